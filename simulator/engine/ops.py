"""Ops: the only way a simulated thread touches shared state.

A thread is a generator that yields ops and receives each op's result::

    idx = yield load("used.idx", "virtqueue_poll")

Every op names the real function it stands for (``func``), so a trace reads
like the dtrace output in the bug reports. An op is a plain tuple
``(kind, func, a, b, c)``; the constructors below are the public way to make one.

Which ops drain the CPU's store buffer under x86-TSO (see ``engine.memory``):
``fence`` (mfence) and every locked op — ``cas``, ``swap``, ``fetch_or``,
``fetch_and``, ``fetch_add`` — and the lock primitives built on them
(``lock``, ``unlock``, ``rw_enter``, ``rw_exit``, ``cv_*``), as on x86 where
mutexes are taken and released with locked instructions.
"""
from __future__ import annotations

LOAD = "load"
STORE = "store"
FENCE = "fence"
CAS = "cas"
SWAP = "swap"
FETCH_OR = "fetch_or"
FETCH_AND = "fetch_and"
FETCH_ADD = "fetch_add"
LOCK = "lock"
UNLOCK = "unlock"
CV_WAIT = "cv_wait"
CV_WAIT_SIG = "cv_wait_sig"
CV_SIGNAL = "cv_signal"
CV_BROADCAST = "cv_broadcast"
RW_ENTER = "rw_enter"
RW_EXIT = "rw_exit"
SLEEP = "sleep"
HALT = "halt"
SEND_SIGNAL = "send_signal"
NOTE = "note"
CHECK = "check"
# Internal: the second halves of blocking waits.
CV_REACQUIRE = "cv_reacquire"  # a woken cv waiter re-takes its mutex
RW_WRITER_WAIT = "rw_writer_wait"  # a blocked writer takes the rwlock once it is free

ATOMICS = frozenset({CAS, SWAP, FETCH_OR, FETCH_AND, FETCH_ADD})
READER, WRITER = "reader", "writer"


def load(addr: str, func: str):
    """Read a memory cell (from the own store buffer if it holds a newer value)."""
    return (LOAD, func, addr, None, None)


def store(addr: str, value: int, func: str):
    """Write a memory cell (into the store buffer under TSO)."""
    return (STORE, func, addr, value, None)


def fence(func: str):
    """A full barrier (x86 ``mfence``): the own store buffer drains first."""
    return (FENCE, func, None, None, None)


def cas(addr: str, expected: int, new: int, func: str):
    """Locked compare-and-swap; returns the old value (success iff old == expected)."""
    return (CAS, func, addr, expected, new)


def swap(addr: str, value: int, func: str):
    """Locked exchange; returns the old value."""
    return (SWAP, func, addr, value, None)


def fetch_or(addr: str, bits: int, func: str):
    """Locked OR (``atomic_set_long``, ``lock or``); returns the old value."""
    return (FETCH_OR, func, addr, bits, None)


def fetch_and(addr: str, bits: int, func: str):
    """Locked AND (``atomic_clear_long``); returns the old value."""
    return (FETCH_AND, func, addr, bits, None)


def fetch_add(addr: str, delta: int, func: str):
    """Locked add; returns the old value."""
    return (FETCH_ADD, func, addr, delta, None)


def lock(mutex: str, func: str):
    """Take a mutex; blocks while another thread owns it."""
    return (LOCK, func, mutex, None, None)


def unlock(mutex: str, func: str):
    """Release a mutex the thread owns."""
    return (UNLOCK, func, mutex, None, None)


def cv_wait(cv: str, mutex: str, func: str):
    """Mesa-style wait: release ``mutex``, sleep until signalled, re-take ``mutex``."""
    return (CV_WAIT, func, cv, mutex, None)


def cv_wait_sig(cv: str, mutex: str, func: str):
    """As ``cv_wait``, but a pending signal ends the wait early.

    Returns 1 when woken by ``cv_signal``/``cv_broadcast`` and 0 when a signal
    interrupted it (illumos ``cv_wait_sig`` semantics); the signal is consumed.
    """
    return (CV_WAIT_SIG, func, cv, mutex, None)


def cv_signal(cv: str, func: str):
    """Wake the longest waiter of ``cv``, if any. The mutex need not be held."""
    return (CV_SIGNAL, func, cv, None, None)


def cv_broadcast(cv: str, func: str):
    """Wake every waiter of ``cv``. The mutex need not be held."""
    return (CV_BROADCAST, func, cv, None, None)


def rw_enter(rwlock: str, mode: str, func: str):
    """Take a writer-preferring rwlock as READER or WRITER (illumos ``krwlock``)."""
    return (RW_ENTER, func, rwlock, mode, None)


def rw_exit(rwlock: str, func: str):
    """Drop the thread's hold on a rwlock."""
    return (RW_EXIT, func, rwlock, None, None)


def sleep(ns: int, func: str, timer: str | None = None):
    """Block until a timer of ``ns`` nanoseconds fires (I/O latency, a timeout).

    Untimed, the firing may come at any point; timed, it comes ``ns`` later.
    """
    return (SLEEP, func, timer, ns, None)


def halt(addr: str, func: str, busy: int = 0):
    """Block while the cell ``addr`` holds ``busy`` in memory; returns the value it
    holds then. With the default 0: a CPU halted until an interrupt is pending.
    With another value: a thread that only waits for a cell to change, where a
    model folds a loop of identical rounds into one wait."""
    return (HALT, func, addr, busy, None)


def send_signal(thread: str, func: str):
    """Post a signal to a thread: it ends a ``cv_wait_sig`` in progress or the next one."""
    return (SEND_SIGNAL, func, thread, None, None)


def note(text: str, func: str):
    """A step that changes nothing and shows ``text`` in the trace (a console line)."""
    return (NOTE, func, text, None, None)


def check(ok: bool, message: str, func: str):
    """An assertion of the scenario: if ``ok`` is false the run ends in ``violation``."""
    return (CHECK, func, bool(ok), message, None)
