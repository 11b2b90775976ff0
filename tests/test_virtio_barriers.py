"""OS-7613: the buggy device loses an interrupt; the fenced one provably does not."""
import pytest

from simulator import scenarios
from simulator.errors import UsageError
from simulator.models.virtio import vring_need_event
from simulator.search import search

MODES = ("flags", "event_idx")


@pytest.mark.parametrize("mode", MODES)
def test_the_buggy_device_leaves_a_completed_request_unseen(mode):
    found = search("virtio-barriers", "buggy", {"mode": mode})
    assert found.found == "stuck"
    assert found.bound == 0  # two CPUs and a store buffer: nobody had to be preempted
    trace = found.counterexample
    assert "still in flight" in trace.verdict.reason
    assert any("vcpu0 in default_idle: halted" in w for w in trace.verdict.waits)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("requests", [1, 2])
def test_the_fenced_device_never_loses_one(mode, requests):
    found = search("virtio-barriers", "fixed", {"mode": mode, "requests": requests})
    assert found.found is None and found.exhausted


def test_one_request_in_flight_cannot_lose_its_interrupt_even_when_buggy():
    """The race needs a second completion while the guest polls for the first."""
    found = search("virtio-barriers", "buggy", {"requests": 1})
    assert found.found is None and found.exhausted


def test_without_a_store_buffer_the_bug_disappears():
    """Under sequential consistency the missing barrier cannot matter."""
    found = search("virtio-barriers", "buggy", memory_model="sc")
    assert found.found is None and found.exhausted


def test_in_the_stuck_run_the_device_read_stale_flags_and_sent_no_msi():
    trace = search("virtio-barriers", "buggy").counterexample
    decisions = [s for s in trace.steps if s["func"] == "vq_endchains" and s["op"] == "load"
                 and "avail.flags" in s["detail"]]
    msis = [s for s in trace.steps if s["func"] == "vm_lapic_msi"]
    assert len(decisions) == 2 and len(msis) == 1  # two completions, one interrupt
    assert decisions[-1]["result"] == 1  # the device saw NO_INTERRUPT still set


def test_a_later_direct_read_knocks_the_flags_mode_hang_loose():
    trace = search("virtio-barriers", "buggy", {"mode": "flags"}).counterexample
    from simulator.engine.clock import drive_untimed
    from simulator.engine.strategies import Replay, RoundRobin

    m = scenarios.get("virtio-barriers").machine("buggy", trace.params)
    drive_untimed(m, Replay(trace.schedule + ["nudge"], then=RoundRobin()))
    assert m.verdict().kind == "ok"
    assert m.model["driver"].completed == 3  # the two writes and the read


def test_in_event_idx_mode_a_later_read_does_not_help():
    """used_event already lies behind the device's last decision: the new completion
    is not 'crossing the event index' either, so no interrupt comes for it."""
    from simulator.engine.clock import drive_untimed
    from simulator.engine.strategies import Replay, RoundRobin

    trace = search("virtio-barriers", "buggy", {"mode": "event_idx"}).counterexample
    m = scenarios.get("virtio-barriers").machine("buggy", trace.params)
    drive_untimed(m, Replay(trace.schedule + ["nudge"], then=RoundRobin()))
    assert m.verdict().kind == "stuck"


def test_vring_need_event_interrupts_when_used_event_is_crossed():
    assert vring_need_event(event_idx=0, new_idx=1, old_idx=0)
    assert not vring_need_event(event_idx=0, new_idx=2, old_idx=1)
    assert vring_need_event(event_idx=1, new_idx=2, old_idx=1)
    assert vring_need_event(event_idx=0xFFFF, new_idx=0, old_idx=0xFFFF)  # wraps at 16 bits


@pytest.mark.parametrize("params, message", [
    ({"queue_size": 3}, "not a power of two"),
    ({"queue_size": 512}, "above the maximum"),
    ({"requests": 0}, "below the minimum"),
    ({"requests": 4, "queue_size": 2}, "cannot be in flight"),
    ({"mode": "polling"}, "not one of"),
    ({"colour": 1}, "no parameter 'colour'"),
    ({"requests": "two"}, "not an integer"),
])
def test_impossible_parameters_are_one_line_errors(params, message, refused):
    assert message in refused("virtio-barriers", "buggy", params)


def test_an_unknown_variant_is_an_error(refused):
    assert "no variant 'fast'" in refused("virtio-barriers", "fast")


def test_a_class_variant_must_be_a_device_and_is_named_after_itself():
    from simulator.models.virtio import FencedVirtioDevice

    class MyDevice(FencedVirtioDevice):
        pass

    sc = scenarios.get("virtio-barriers")
    assert sc.variant_name(MyDevice) == "MyDevice"
    assert sc.variant_name(FencedVirtioDevice) == "FencedVirtioDevice"
    with pytest.raises(UsageError, match="subclass of VirtioDevice"):
        sc.machine(dict)


WRAP = {"start_idx": 0xFFFF}  # the 16-bit indices wrap from 65535 to 0 during the run


@pytest.mark.parametrize("mode", MODES)
def test_across_the_16_bit_wrap_the_fix_still_holds_and_the_bug_still_bites(mode):
    assert search("virtio-barriers", "buggy", {**WRAP, "mode": mode}).found == "stuck"
    fixed = search("virtio-barriers", "fixed", {**WRAP, "mode": mode})
    assert fixed.found is None and fixed.exhausted


@pytest.mark.parametrize("mode", MODES)
def test_used_idx_wraps_to_zero_and_every_request_is_collected(mode):
    from simulator import runs

    trace = runs.run("virtio-barriers", "fixed", {**WRAP, "mode": mode, "requests": 3},
                     seed=3)
    published = [int(s["detail"].split(", ")[1]) for s in trace.steps
                 if s["func"] == "vq_relchain" and s["op"] == "store"
                 and s["detail"].startswith("used.idx")]
    assert published == [0, 1, 2]  # 65535 + 1 wraps to 0
    assert trace.verdict.kind == "ok"
    assert trace.verdict.reason == "all 3 requests completed in the guest"


def test_the_fixed_device_carries_both_barriers_of_the_commit():
    """e393062 added wmb() in vq_relchain and mb() in vq_endchains."""
    from simulator import runs

    trace = runs.run("virtio-barriers", "fixed", seed=1)
    relchain = [s["op"] for s in trace.steps if s["func"] == "vq_relchain"]
    endchains = [s["op"] for s in trace.steps if s["func"] == "vq_endchains"]
    assert "note" in relchain and "fence" in endchains
    assert relchain.index("note") < max(k for k, op in enumerate(relchain) if op == "store")
