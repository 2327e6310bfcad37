"""The question type every evaluator and scorer shares (pure data, runs anywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["fwd", "bwd"]


@dataclass(frozen=True)
class QAItem:
    """One open question about the injected knowledge.

    `category` is what accuracy is reported per (e.g. `N2D-fwd`, or `fwd`); `direction` says whether
    the question follows the document's order (`fwd`) or reverses it (`bwd`).
    """

    question: str
    answers: tuple[str, ...]
    direction: Direction
    category: str
