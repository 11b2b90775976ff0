"""The main thread's event loop (``mevent.c``) and the kqueue it sleeps on.

bhyve and hyperkit end ``main`` in ``mevent_dispatch``: the process's original
thread loops forever in ``kevent``, and for every event it gets it calls the
handler registered with ``mevent_add``. block_if registers one for SIGCONT
(``EVF_SIGNAL``, which becomes kqueue's ``EVFILT_SIGNAL``).

``Kqueue`` keeps, per watched signal, the count ``EVFILT_SIGNAL`` reports: how
many times the signal was sent since the last ``kevent`` collected it (the
filter is edge-triggered, ``EV_CLEAR``). The kernel side (``knote``) runs in the
*sender's* system call, under the kqueue's lock, and wakes a thread sleeping
in ``kevent``; the check-and-sleep happens under the same lock, so no wake-up
falls between them. Which signals reach ``knote`` at all is the host's rule
(``host.Process.pthread_kill``).
"""
from __future__ import annotations

from simulator.engine import ops


class Kqueue:
    """One kqueue with ``EVFILT_SIGNAL`` filters: a count per signal, a lock, a sleeper."""

    def __init__(self, name: str = "kq", signals: dict[int, str] | None = None):
        self.lock = f"{name}_lock"
        self.cv = name
        self.counts = {sig: f"{name}.{label}" for sig, label in (signals or {}).items()}

    def cells(self) -> dict[str, int]:
        return dict.fromkeys(self.counts.values(), 0)

    def knote(self, sig: int):
        """The kernel activates the signal's knote and wakes the kevent sleeper."""
        yield ops.lock(self.lock, "knote")
        yield ops.fetch_add(self.counts[sig], 1, "knote")
        yield ops.cv_signal(self.cv, "kqueue_wakeup")
        yield ops.unlock(self.lock, "knote")

    def kevent(self, sig: int):
        """Block until the signal has been reported; return how many times (and clear)."""
        yield ops.lock(self.lock, "kevent")
        while not (n := (yield ops.swap(self.counts[sig], 0, "kqueue_scan"))):
            yield ops.cv_wait(self.cv, self.lock, "kqueue_scan")
        yield ops.unlock(self.lock, "kevent")
        return n


class Mevent:
    """``mevent_add`` and ``mevent_dispatch``: handlers for signals, called from the loop."""

    def __init__(self, kqueue: Kqueue, process):
        self.kqueue = kqueue
        self.process = process  # the host.Process whose signals the kqueue watches
        self.handlers: dict[int, object] = {}  # signal -> handler (a generator function)

    def mevent_add(self, sig: int, handler) -> None:
        """Register ``handler`` for ``sig`` (set-up, before the loop runs): the kqueue
        gets an ``EVFILT_SIGNAL`` filter for it."""
        if sig not in self.kqueue.counts:
            raise ValueError(f"the kqueue has no EVFILT_SIGNAL filter for signal {sig}")
        self.process.watch(sig, self.kqueue)
        self.handlers[sig] = handler

    def mevent_dispatch(self):
        """The main thread, forever: wait in ``kevent``, then call the handler.

        With one watched signal there is one filter to wait on; the loop runs
        its handler once per ``kevent`` however many signals it counted."""
        (sig, handler), = self.handlers.items()
        while True:
            yield from self.kqueue.kevent(sig)
            yield from handler()
