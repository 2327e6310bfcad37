"""User-facing errors, raised at validation boundaries (driver and worker alike).

`InputError` lives in `evaluation.errors` (the bottom layer, where prompts are built) and is the
same class here.
"""

from __future__ import annotations

import reprlib
from typing import Any

from evaluation.errors import InputError

__all__ = ["InputError", "clip", "excerpt"]

EXCERPT_CHARS = 100
"""The most of a bad value a message shows: a 5000-character flag or a 100 kB YAML string is named,
not repeated (and a message stays one line a terminal can show)."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:  # noqa: ANN401 (any value a user gave)
    """`repr(value)` cut to about `limit` characters, for a one-line message about a bad value."""
    shortened = reprlib.Repr()  # never walks more than a few levels and items of a big value
    shortened.maxstring = shortened.maxother = limit
    shortened.maxlevel, shortened.maxlist, shortened.maxdict = 3, 8, 8
    return clip(shortened.repr(value), limit)


def clip(text: str, limit: int = 3 * EXCERPT_CHARS) -> str:
    """`text` (a path, a reason) as is, or its first `limit` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
