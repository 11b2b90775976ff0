"""A wall-clock limit around student code, so grading always comes back.

The Machine's step budget stops a student thread that keeps yielding ops
forever. It cannot stop one that loops *without* yielding (``while True:
pass`` inside a generator): Python never returns to the engine. For that the
checks arm ``SIGALRM`` (``signal.setitimer``) and raise ``OutOfTime`` from
whatever code is running when it fires.

Why a signal and not a forked process: a student's device class lives in the
notebook's ``__main__`` and is not picklable for a fresh process, and forking
a Jupyter kernel (with its ZeroMQ threads) is fragile. Jupyter runs every
cell in the kernel's main thread, where signal handlers run, so the alarm
works in notebooks, in ``nbgrader autograde`` and under pytest.

``OutOfTime`` derives from ``BaseException``, so the engine's "student code
crashed" handler (``except Exception``) does not swallow it, and the alarm
repeats every 50 ms until the limit is lifted, in case a bare ``except:``
swallows the first one. Where no alarm can be armed (not the main thread, no
SIGALRM on the platform) the code runs with the step budget alone.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

REPEAT_S = 0.05


class OutOfTime(BaseException):
    """The wall-clock limit of a check ran out."""


def alarm_available() -> bool:
    """Can a wall-clock limit be enforced here?"""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Raise ``OutOfTime`` in the body if it runs longer than ``seconds``.

    Yields whether the limit is enforced (False where no alarm is possible).
    """
    if not alarm_available():
        yield False
        return

    armed = [True]

    def _ring(signum, frame):
        if armed[0]:
            raise OutOfTime(f"still running after {seconds:g} s")

    old_handler = signal.signal(signal.SIGALRM, _ring)
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_S)
    try:
        yield True
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:  # someone else's alarm was running: put it back
            signal.setitimer(signal.ITIMER_REAL, *old_timer)
