"""x86-TSO against sequential consistency on the classic two-CPU shapes."""
from simulator.engine.explore import explore
from simulator.engine.shapes import message_passing, store_buffering


def test_store_buffering_is_reachable_under_tso():
    """Each CPU's load can pass its own buffered store: both read 0."""
    result = explore(lambda: store_buffering("tso"))
    assert result.found is not None and result.found.verdict.kind == "violation"
    assert result.found.preemptions == 0


def test_mfence_forbids_store_buffering():
    """With mfence between store and load, some load always sees the other store."""
    result = explore(lambda: store_buffering("tso", fences=True))
    assert result.found is None and result.exhausted


def test_sequential_consistency_forbids_store_buffering():
    result = explore(lambda: store_buffering("sc"))
    assert result.found is None and result.exhausted


def test_message_passing_stays_ordered_under_tso():
    """Stores leave a store buffer in order, and loads are not reordered with loads."""
    result = explore(lambda: message_passing("tso"))
    assert result.found is None and result.exhausted


def test_a_load_forwards_from_its_own_store_buffer():
    from simulator.engine import ops
    from simulator.engine.machine import Machine

    seen = []

    def cpu0():
        yield ops.store("x", 7, "P0")
        seen.append((yield ops.load("x", "P0")))

    m = Machine({"x": 0}, cpus=2, memory_model="tso")
    m.add_thread("P0", 0, cpu0())
    m.step("P0")
    assert m.memory.cells["x"] == 0 and m.memory.buffer(0) == [("x", 7)]
    m.step("P0")
    assert seen == [7]
    assert m.enabled() == ["drain:cpu0"]
    m.step("drain:cpu0")
    assert m.memory.cells["x"] == 7


def test_locked_ops_drain_the_store_buffer():
    from simulator.engine import ops
    from simulator.engine.machine import Machine

    def cpu0():
        yield ops.store("x", 1, "P0")
        yield ops.store("y", 2, "P0")
        yield ops.fetch_or("z", 4, "P0")

    m = Machine({"x": 0, "y": 0, "z": 1}, cpus=1, memory_model="tso")
    m.add_thread("P0", 0, cpu0())
    for _ in range(3):
        m.step("P0")
    assert m.memory.buffer(0) == []
    assert m.memory.cells == {"x": 1, "y": 2, "z": 5}
