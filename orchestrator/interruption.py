"""SIGTERM stops a command as Ctrl-C does (driver side, main thread).

`ray job stop`, a batch scheduler, `kill` and a closing session send SIGTERM. Ray's driver turns
it into `sys.exit`, which skipped what an interrupt does: Tune saved no state, runs were left
RUNNING (a sweep) or marked FAILED (a trial), and the process aborted in Ray's C++ signal dump.
Inside `sigterm_as_interrupt()` a SIGTERM is handed to whatever handles SIGINT at that moment —
Ray Tune's graceful stop during a sweep, Ray Train's abort during a trial, else
KeyboardInterrupt — so both signals leave the same KILLED, resumable runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _as_sigint(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIG_DFL or SIG_IGN: no Python handler to hand it to
        raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the body runs, SIGTERM does what Ctrl-C does. Installed after `ray.init`, which sets
    its own SIGTERM handler; a no-op outside the main thread (signals are handled only there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _as_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
