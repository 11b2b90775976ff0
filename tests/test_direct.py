"""Model code run as a plain call: each op takes effect at once."""
import pytest

from simulator.engine import direct, ops
from simulator.engine.memory import ModelError


def test_a_generator_runs_to_its_return_value():
    def bump():
        old = yield ops.fetch_add("n", 1, "bump")
        yield ops.store("seen", old, "bump")
        return (yield ops.load("n", "bump"))

    cells = {"n": 4, "seen": 0}
    assert direct.call(bump(), cells) == 5
    assert cells == {"n": 5, "seen": 4}


def test_ops_that_wait_for_another_thread_are_refused():
    def waits():
        yield ops.lock("m", "mutex_enter")

    with pytest.raises(ModelError, match="needs other threads"):
        direct.call(waits(), {})


def test_a_program_that_never_stops_is_refused_not_waited_for():
    def forever():
        while True:
            yield ops.load("x", "spin")

    with pytest.raises(ModelError, match="still running after 50 ops"):
        direct.call(forever(), {"x": 0}, max_ops=50)
