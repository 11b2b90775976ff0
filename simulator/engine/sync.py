"""Locks and condition variables as the machine keeps them.

The rules live here; the machine asks them whether an op may proceed and
applies it. All three are *state*, so they take part in the fingerprint.

- ``Mutex``: one owner at a time.
- ``CondVar``: Mesa semantics — a woken waiter must re-take its mutex and
  re-check its condition. ``cv_signal``/``cv_broadcast`` may be called without
  the mutex, so a wake-up that comes between a waiter's check and its sleep is
  lost (the shape of illumos #14026).
- ``RwLock``: writer-preferring, like illumos ``krwlock``: while a writer waits,
  new readers wait too, even if only readers hold the lock now.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Mutex:
    """A blocking mutex (``pthread_mutex_t``, illumos ``kmutex_t``)."""

    owner: str | None = None

    def key(self):
        return self.owner


@dataclass
class CondVar:
    """A condition variable: the queue of waiting threads, oldest first."""

    waiters: list[str] = field(default_factory=list)

    def key(self):
        return tuple(self.waiters)


@dataclass
class RwLock:
    """A readers-writer lock: one writer, or any number of readers."""

    writer: str | None = None
    readers: list[str] = field(default_factory=list)
    waiting_writers: list[str] = field(default_factory=list)  # blocked in rw_enter(WRITER)

    def free(self) -> bool:
        return self.writer is None and not self.readers

    def reader_may_enter(self) -> bool:
        """New readers wait while a writer holds the lock or waits for it."""
        return self.writer is None and not self.waiting_writers

    def holders(self) -> list[str]:
        return [self.writer] if self.writer else list(self.readers)

    def key(self):
        return (self.writer, tuple(sorted(self.readers)), tuple(self.waiting_writers))
