"""Mutexes, Mesa condition variables, the writer-preferring rwlock and atomics."""
from simulator.engine import ops
from simulator.engine.explore import explore
from simulator.engine.machine import Machine
from simulator.engine.shapes import lost_wakeup


def test_a_wakeup_without_the_lock_can_be_lost():
    """The waker signals between the waiter's check and its sleep: nobody wakes it."""
    result = explore(lambda: lost_wakeup(waker_holds_lock=False))
    assert result.found is not None
    assert result.found.verdict.kind == "deadlock"
    assert any("cv_wait on cv" in w for w in result.found.verdict.waits)


def test_a_wakeup_under_the_lock_is_never_lost():
    result = explore(lambda: lost_wakeup(waker_holds_lock=True))
    assert result.found is None and result.exhausted


def test_mutex_excludes_a_second_owner():
    def grab(name):
        yield ops.lock("m", name)
        yield ops.unlock("m", name)

    m = Machine({}, cpus=2)
    m.add_thread("a", 0, grab("a"))
    m.add_thread("b", 1, grab("b"))
    m.step("a")
    assert m.enabled() == ["a"]
    assert m.mutexes["m"].owner == "a"


def test_cv_wait_sig_returns_zero_when_a_signal_interrupts_it():
    got = []

    def sleeper():
        yield ops.lock("m", "sleeper")
        got.append((yield ops.cv_wait_sig("cv", "m", "sleeper")))
        yield ops.unlock("m", "sleeper")

    def poker():
        yield ops.send_signal("sleeper", "kill")

    m = Machine({}, cpus=2)
    m.add_thread("sleeper", 0, sleeper())
    m.add_thread("poker", 1, poker())
    m.step("sleeper")
    m.step("sleeper")  # now waiting
    assert m.enabled() == ["poker"]
    m.step("poker")
    m.step("sleeper")  # re-takes the mutex, returns
    assert got == [0]


def test_cv_wait_sig_with_a_signal_already_pending_does_not_sleep():
    got = []

    def sleeper():
        yield ops.lock("m", "t")
        got.append((yield ops.cv_wait_sig("cv", "m", "t")))

    m = Machine({}, cpus=1)
    t = m.add_thread("t", 0, sleeper())
    t.signal = True
    m.step("t")
    m.step("t")
    assert got == [0] and m.mutexes["m"].owner == "t"


def test_a_waiting_writer_shuts_out_new_readers():
    """illumos krwlock: reader R1 holds, writer W waits, reader R2 must wait too."""

    def reader(name):
        yield ops.rw_enter("vm", ops.READER, name)
        yield ops.rw_exit("vm", name)

    def writer():
        yield ops.rw_enter("vm", ops.WRITER, "W")
        yield ops.rw_exit("vm", "W")

    m = Machine({}, cpus=3)
    m.add_thread("R1", 0, reader("R1"))
    m.add_thread("W", 1, writer())
    m.add_thread("R2", 2, reader("R2"))
    m.step("R1")
    m.step("W")  # W finds a reader inside and blocks
    assert m.enabled() == ["R1"]  # R2 may not join R1 while W waits
    m.step("R1")
    assert m.enabled() == ["W"]


def test_atomics_return_the_old_value():
    got = []

    def t():
        got.append((yield ops.cas("v", 0, 5, "t")))  # succeeds
        got.append((yield ops.cas("v", 0, 9, "t")))  # fails, v stays 5
        got.append((yield ops.swap("v", 1, "t")))
        got.append((yield ops.fetch_or("v", 6, "t")))
        got.append((yield ops.fetch_and("v", 3, "t")))
        got.append((yield ops.fetch_add("v", 10, "t")))

    m = Machine({"v": 0}, cpus=1)
    m.add_thread("t", 0, t())
    while m.enabled():
        m.step(m.enabled()[0])
    assert got == [0, 5, 5, 1, 7] + [3]
    assert m.memory.cells["v"] == 13
