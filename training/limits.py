"""The ranges of the numbers users give, one place for every command (pure; driver and workers).

Each cap says why it is there: a value past it is a typo (an extra digit, `1e20`), and without
a cap it would pass every check and fail hours later, or run until memory or time runs out.
"""

from __future__ import annotations

from training.errors import InputError, excerpt

MAX_SEED = 2**32 - 1
"""numpy's and Python's seeded samplers take 32-bit seeds; torch, 64-bit."""
MAX_EPOCHS = 100_000
"""26x the paper's longest schedule (3840 epochs, NameDescription)."""
MAX_EVAL_POINTS = 1_000
"""Each evaluation answers every question and writes a checkpoint."""
MAX_NEW_TOKENS = 8_192
"""Answers are facts of a few words (the paper decodes 128 tokens); 8192 per question takes hours."""
MAX_BATCH = 65_536
"""Documents or questions per batch: no device holds more of even the shortest."""
MAX_WORKERS = 4_096
"""Ray Train workers of one trial: more GPUs than the largest clusters this is run on."""


def check_range(flag: str, value: float, low: float, high: float, why: str = "") -> None:
    """`low <= value <= high`, or one line naming the flag, the range and why it is capped."""
    if not low <= value <= high:  # NaN fails here too
        reason = f" ({why})" if why else ""
        raise InputError(f"{flag} must lie in {low}..{high}{reason}, got {excerpt(value)}")


def check_seed(flag: str, value: int) -> None:
    check_range(flag, value, 0, MAX_SEED, "a 32-bit seed, as numpy's samplers take")
