"""The wait-for graph: who waits for whom, what each waiter holds, and the cycle.

Tiny machines, each blocked on purpose: a lock held by another thread, a
rwlock's readers keeping a writer out, a condition variable whose one
signaller the scenario names (which is how a cycle through a condition
variable is seen), a scenario's own words for a wait.
"""
from simulator.engine import ops, waitfor
from simulator.engine.machine import Machine


def _locker(first, second, func):
    yield ops.lock(first, func)
    yield ops.lock(second, func)


def test_a_thread_waiting_for_a_mutex_waits_for_its_owner_and_says_what_it_holds():
    m = Machine({}, cpus=2)
    m.add_thread("A", 0, _locker("m1", "m2", "fa"))
    m.add_thread("B", 1, _locker("m2", "m1", "fb"))
    m.step("A")
    m.step("B")
    edges = waitfor.edges(m)
    assert [str(e) for e in edges] == ["A waits in fa for m2 (held by B), holding m1",
                                       "B waits in fb for m1 (held by A), holding m2"]
    assert [e.waiter for e in waitfor.cycle(edges)] == ["A", "B"]


def test_a_writer_waits_for_every_reader_and_the_readers_say_they_hold_the_lock():
    def reader(name):
        yield ops.rw_enter("vm", ops.READER, name)
        yield ops.lock("never", name)  # keeps its read hold for ever

    def writer():
        yield ops.rw_enter("vm", ops.WRITER, "W")

    m = Machine({}, cpus=4)
    m.add_thread("owner", 3, _locker("never", "never", "owner"))  # takes it, then waits on itself
    m.add_thread("R1", 0, reader("R1"))
    m.add_thread("R2", 1, reader("R2"))
    m.add_thread("W", 2, writer())
    for name in ("owner", "R1", "R2", "W"):
        m.step(name)
    by_waiter = {}
    for e in waitfor.edges(m):
        by_waiter.setdefault(e.waiter, []).append(e)
    assert [(e.resource, e.holder, e.how()) for e in by_waiter["W"]] == [
        ("vm as writer", "R1", "read-held by"), ("vm as writer", "R2", "read-held by")]
    assert by_waiter["R1"][0].held == ("vm (reader)",)
    assert [e.waiter for e in waitfor.cycle(by_waiter["owner"])] == ["owner"]  # its own lock


def _sign_then_wake():
    """A worker holding vr_lock waits on lease_cv; the one thread that will
    broadcast lease_cv first wants vr_lock."""
    def worker():
        yield ops.lock("vr_lock", "worker")
        yield ops.lock("lease_lock", "sign")
        yield ops.cv_wait("lease_cv", "lease_lock", "sign")

    def blocker():
        yield ops.lock("vr_lock", "expire_cb")
        yield ops.cv_broadcast("lease_cv", "unblock")

    m = Machine({}, cpus=2)
    m.add_thread("worker", 0, worker())
    m.add_thread("blocker", 1, blocker())
    for name in ("worker", "worker", "worker"):  # the blocker is stuck at its first lock
        m.step(name)
    return m


def test_a_condition_variable_has_no_owner_so_alone_it_closes_no_cycle():
    m = _sign_then_wake()
    edges = waitfor.edges(m)
    assert waitfor.cycle(edges) is None
    assert "worker waits in sign on lease_cv (any thread may signal it), holding vr_lock" \
        in waitfor.describe(edges)


def test_naming_the_one_signaller_shows_the_cycle_through_the_condition_variable():
    m = _sign_then_wake()
    edges = waitfor.edges(m, signallers={"lease_cv": "blocker"},
                          by={"lease_cv": "broadcast, once it has vr_lock, by"})
    assert waitfor.describe(waitfor.cycle(edges)) == (
        "worker waits in sign on lease_cv (broadcast, once it has vr_lock, by blocker), "
        "holding vr_lock; blocker waits in expire_cb for vr_lock (held by worker)")


def test_a_wait_nobody_will_end_says_why_and_a_scenario_may_say_a_wait_its_own_way():
    m = _sign_then_wake()
    edges = waitfor.edges(m, why={"lease_cv": "the broadcast came first: lost"})
    assert edges[0].holder is None and edges[0].whom() == "the broadcast came first: lost"

    def explain(m, t):
        if t.name == "blocker":
            return []  # not part of this story
        return [waitfor.Edge(t.name, "the blocker to finish", "blocker", "sign", "lease",
                             by="ended by")]

    edges = waitfor.edges(m, explain=explain)
    assert [str(e) for e in edges] == [
        "worker waits in sign for the blocker to finish (ended by blocker), holding vr_lock"]
