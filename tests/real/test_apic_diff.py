"""OS-6829's differential check: the vLAPIC model against KVM's in-kernel LAPIC."""
import pytest

from simulator.errors import UsageError
from simulator.real.apic_diff import (
    REPORT_SEQUENCE,
    ModelVcpu,
    apply,
    compare,
    random_sequence,
)


def _play(variant, seq):
    vcpu = ModelVcpu(variant)
    for op in seq:
        apply(vcpu, op)
    return vcpu


def test_on_the_report_sequence_the_buggy_model_sleeps_through_0xd3():
    buggy = _play("buggy", REPORT_SEQUENCE)
    assert buggy.sleeping and 0xD3 in buggy.state()["irr"] and buggy.handled == []


def test_on_the_report_sequence_the_fixed_model_wakes_for_0xd3():
    fixed = _play("fixed", REPORT_SEQUENCE)
    assert not fixed.sleeping and fixed.handled == [0xD3]
    assert fixed.state()["irr"] == [0x60, 0x61]  # still below PPR 0x70's class


def test_sequences_are_seeded_and_a_halted_guest_only_receives_msis():
    assert random_sequence(7) == random_sequence(7) != random_sequence(8)
    for seed in range(20):
        probe = ModelVcpu("fixed")
        for op in random_sequence(seed):
            assert not probe.sleeping or op[0] == "msi"
            apply(probe, op)


@pytest.mark.parametrize("op, message", [
    (("msi", 12), "not a valid interrupt vector"),
    (("msi", 256), "not a valid interrupt vector"),
    (("tpr", 0x100), "8-bit task-priority register"),
    (("poke",), "unknown APIC operation"),
])
def test_impossible_operations_are_one_line_errors(op, message):
    with pytest.raises(UsageError, match=message):
        apply(ModelVcpu(), op)


def test_an_unknown_variant_is_an_error():
    with pytest.raises(UsageError, match="unknown variant"):
        ModelVcpu("optimistic")


def test_the_fixed_model_agrees_with_kvm_on_fifty_seeded_sequences(kvm):
    report = compare(seeds=50, variant="fixed")
    assert len(report.sequences) == 51  # the report's own sequence, then 50 seeded
    assert report.agreed == 51, report.to_json()["disagreements"][:3]


def test_kvm_catches_the_buggy_model_on_the_report_sequence(kvm):
    report = compare(seeds=0, variant="buggy")
    first = report.sequences[0].disagreement
    assert first is not None and first.op == "msi 0xd3"
    assert first.model["halted"] is True and first.machine["halted"] is False
