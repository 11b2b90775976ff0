"""Classic two-thread shapes as tiny Machines: store buffering, message passing,
a lost wake-up. The tests, the Spin comparison and the introduction use them."""
from simulator.engine import ops
from simulator.engine.machine import Machine


def store_buffering(memory_model="tso", fences=False) -> Machine:
    """SB: each CPU stores its flag, then loads the other's. Both reading 0 is the
    relaxed outcome; the property fails when it happens."""
    seen = {}

    def cpu(me, mine, other):
        yield ops.store(mine, 1, f"P{me}")
        if fences:
            yield ops.fence(f"P{me}")
        seen[me] = yield ops.load(other, f"P{me}")

    def sequential(m):
        relaxed = seen.get(0) == 0 and seen.get(1) == 0
        return (not relaxed, "both loads read 0" if relaxed else "")

    m = Machine({"x": 0, "y": 0}, cpus=2, memory_model=memory_model, check_property=sequential)
    m.add_thread("P0", 0, cpu(0, "x", "y"))
    m.add_thread("P1", 1, cpu(1, "y", "x"))
    return m


def message_passing(memory_model="tso") -> Machine:
    """MP: the writer stores data then flag; a reader that sees the flag must see the data."""
    seen = {}

    def writer():
        yield ops.store("data", 42, "writer")
        yield ops.store("flag", 1, "writer")

    def reader():
        seen["flag"] = yield ops.load("flag", "reader")
        seen["data"] = yield ops.load("data", "reader")

    def ordered(m):
        bad = seen.get("flag") == 1 and seen.get("data") != 42
        return (not bad, "saw the flag but stale data" if bad else "")

    m = Machine({"data": 0, "flag": 0}, cpus=2, memory_model=memory_model,
                check_property=ordered)
    m.add_thread("writer", 0, writer())
    m.add_thread("reader", 1, reader())
    return m


def lost_wakeup(waker_holds_lock: bool) -> Machine:
    """A waiter checks a flag under the lock and sleeps on a condvar; the waker sets
    the flag and signals — with or without the lock."""

    def waiter():
        yield ops.lock("m", "waiter")
        ready = yield ops.load("flag", "waiter")
        while not ready:
            yield ops.cv_wait("cv", "m", "waiter")
            ready = yield ops.load("flag", "waiter")
        yield ops.unlock("m", "waiter")

    def waker():
        if waker_holds_lock:
            yield ops.lock("m", "waker")
        yield ops.store("flag", 1, "waker")
        yield ops.cv_signal("cv", "waker")
        if waker_holds_lock:
            yield ops.unlock("m", "waker")

    m = Machine({"flag": 0}, cpus=2, memory_model="sc")
    m.add_thread("waiter", 0, waiter())
    m.add_thread("waker", 1, waker())
    return m
