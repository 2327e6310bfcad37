"""Failures a retry would only repeat: caught on the worker, agreed by every rank, reported once.

Ray Train V2 restarts the whole worker group after any worker error (`FailureConfig(max_failures)`
has no per-exception policy), so an error that the same code on the same data raises every time
cost each retry's start-up again. Errors that say the code or its input is wrong (`DETERMINISTIC`:
ValueError, and with it `InputError`, TypeError, ...) raised inside an `agreed()` block end the
loop on every rank instead: the rank that hit it tells the others at the block's end (one small
collective), every rank reports it in `WorkerReport.failure`, and the driver marks the run FAILED
with that line. Errors from the environment (RuntimeError from a collective whose peer died,
OSError from a full disk, CUDA errors), and any error outside an `agreed()` block, still reach
Ray Train, which restarts the workers: a dead worker or node is retried as before.

A block must run no collective itself: a rank that failed early would otherwise meet its peers in
the wrong collective. The training step runs FSDP's, so it is not wrapped (preflight has built
every method's example on the driver already).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist

from evaluation.errors import InputError

DETERMINISTIC: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    NotImplementedError,
    AssertionError,
)


class TrialError(Exception):
    """A deterministic failure every rank has agreed on; the message is one line."""


def one_line(exc: BaseException) -> str:
    """`InputError`'s own message; otherwise `Type: first line of the message`."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, InputError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def agreed() -> Iterator[None]:
    """Every rank: run the block; if it raised a `DETERMINISTIC` error on any rank, raise
    `TrialError` (the lowest such rank's line) on every rank. The block runs no collective."""
    error: str | None = None
    try:
        yield
    except DETERMINISTIC as exc:
        error = one_line(exc)
    errors: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(errors, error)
    first = next((message for message in errors if message), None)
    if first is not None:
        raise TrialError(first)
