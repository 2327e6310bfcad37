"""The question type every evaluator and scorer shares (pure data, runs anywhere)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["fwd", "bwd"]
# How a question is put to a model (evaluation.prompting): the paper's chat turn, or plain completion.
PROMPT_STYLES: tuple[str, ...] = ("chat", "completion")


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


# Fixed, so every trial and every `mft eval` of a set asks the same questions and runs compare.
SELECTION_SEED = 0


def select_questions(items: Sequence[QAItem], limit: int | None) -> tuple[QAItem, ...]:
    """`limit` questions with an equal share of every category, drawn with a fixed seed, in file order.

    Taking the first N would ask one category only when a file is sorted by category (the paper's
    ND_test.jsonl is). A category with fewer questions than its share gives the rest to the others;
    shares differ by at most one, the larger going to the categories seen first. None: all of them.
    """
    if limit is None or limit >= len(items):
        return tuple(items)
    by_category: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_category.setdefault(item.category, []).append(index)
    rng = random.Random(SELECTION_SEED)
    pools = {category: rng.sample(indices, len(indices)) for category, indices in by_category.items()}
    chosen: list[int] = []
    remaining = limit
    while remaining > 0:
        open_pools = [pool for pool in pools.values() if pool]
        share, extra = divmod(remaining, len(open_pools))
        for rank, pool in enumerate(open_pools):
            take = min(len(pool), share + (1 if rank < extra else 0))
            chosen += pool[:take]
            del pool[:take]
            remaining -= take
    return tuple(items[index] for index in sorted(chosen))


def describe_selection(selected: Sequence[QAItem], total: int) -> str:
    """`40 of 3200 questions (N2D-fwd 10, ...), an equal seeded share per category`, for the logs."""
    if len(selected) == total:
        return f"all {total} question{'' if total == 1 else 's'}"
    counts: dict[str, int] = {}
    for item in selected:
        counts[item.category] = counts.get(item.category, 0) + 1
    shares = ", ".join(f"{category} {count}" for category, count in counts.items())
    return (
        f"{len(selected)} of {total} questions ({shares}): an equal share per category, seed {SELECTION_SEED}"
    )
