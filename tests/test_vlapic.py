"""The vLAPIC's register rules, without the engine: PPR, deliverability, EOI, the timer, MSIs.

These are the rules chapter 2 later checks against KVM's in-kernel LAPIC, so
the claims "for every TPR and every in-service vector" are stated as
properties and checked with hypothesis.
"""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import UsageError
from simulator.models.vlapic import (
    Vlapic,
    check_vector,
    compute_ppr,
    deliverable,
    prio,
    vectors,
)

tprs = st.integers(0, 0xFF)
legal = st.integers(16, 255)


# Intel SDM vol. 3A, "Task and Processor Priorities" (10.8.3.1): with ISRV the
# highest vector in service (0 if none), PPR[7:0] = TPR[7:0] if TPR[7:4] >=
# ISRV[7:4], else PPR[7:4] = ISRV[7:4] and PPR[3:0] = 0. Each row worked out by
# hand from that text: (TPR, vectors in service, PPR).
SDM_PPR = [
    (0x00, [], 0x00),
    (0x70, [], 0x70),
    (0x7F, [], 0x7F),  # TPR's low nibble is kept
    (0x72, [0x61], 0x72),
    (0x72, [0x7E], 0x72),  # equal classes: TPR wins, low nibble and all
    (0x72, [0x83], 0x80),  # a higher class in service: its class, low nibble 0
    (0x00, [0xD3], 0xD0),
    (0x70, [0x31, 0xD3], 0xD0),  # only the highest in-service vector counts
    (0x3C, [0x20, 0x4A], 0x40),
    (0xF5, [0xFE], 0xF5),
    (0x45, [0x4F], 0x45),
]


@pytest.mark.parametrize(("tpr", "in_service", "ppr"), SDM_PPR)
def test_ppr_matches_the_sdm_worked_by_hand(tpr, in_service, ppr):
    assert compute_ppr(tpr, sum(1 << v for v in in_service)) == ppr
    apic = Vlapic()  # reached the way a guest gets there: TPR 0, take, raise TPR
    for v in sorted(in_service):
        apic.accept_msi(v)
        assert apic.take() == v
    apic.set_tpr(tpr)
    assert apic.ppr == ppr


# SDM: the APIC delivers a requested vector only if its class (bits 7:4) is
# above PPR[7:4]. (vector, PPR, delivered?)
SDM_DELIVERY = [
    (0x60, 0x70, False), (0x7F, 0x70, False), (0x80, 0x70, True), (0xD3, 0x70, True),
    (0xD3, 0xD0, False), (0xD3, 0xC8, True), (0x10, 0x00, True), (0x1F, 0x0F, True),
    (0x2F, 0x2F, False), (0xFF, 0xF0, False),
]


@pytest.mark.parametrize(("vector", "ppr", "delivered"), SDM_DELIVERY)
def test_delivery_matches_the_sdm_worked_by_hand(vector, ppr, delivered):
    assert deliverable(vector, ppr) is delivered


@given(tpr=tprs, in_service=st.sets(legal, max_size=6), vector=legal)
def test_a_vector_is_deliverable_only_above_tpr_and_everything_in_service(tpr, in_service,
                                                                          vector):
    """Deliverable iff the vector's class beats TPR's class and every in-service class."""
    ppr = compute_ppr(tpr, sum(1 << v for v in in_service))
    beats_all = all(prio(vector) > prio(x) for x in (tpr, *in_service))
    assert deliverable(vector, ppr) == beats_all


@given(tpr=tprs, requested=st.sets(legal, min_size=1, max_size=6))
def test_only_the_highest_request_can_be_delivered(tpr, requested):
    """A lower request never overtakes the highest one, even if the highest must wait."""
    apic = Vlapic(tpr)
    for v in requested:
        apic.accept_msi(v)
    top = max(requested)
    assert apic.highest_deliverable() == (top if prio(top) > prio(tpr) else None)


def test_the_report_guest_at_ppr_0x70_ignores_virtio_but_takes_its_clock():
    """OS-6829's guest: TPR 0x70 holds off 0x60/0x61; the timer's 0xd3 gets through."""
    apic = Vlapic()
    apic.set_tpr(0x70)
    apic.accept_msi(0x60)
    apic.accept_msi(0x61)
    assert (apic.ppr, apic.highest_deliverable()) == (0x70, None)
    apic.accept_msi(0xD3)
    assert apic.take() == 0xD3
    assert apic.ppr == 0xD0  # in service: PPR rises to its class


def test_eoi_retires_the_highest_in_service_vector_and_ppr_falls_back():
    """Nested interrupts unwind in priority order; a gratuitous EOI changes nothing."""
    apic = Vlapic()
    apic.accept_msi(0x60)
    assert apic.take() == 0x60
    apic.accept_msi(0x61)
    assert apic.take() is None  # same class as the one in service: it waits
    apic.accept_msi(0xD3)
    assert apic.take() == 0xD3
    story = [(apic.eoi(), apic.ppr), (apic.eoi(), apic.ppr)]
    assert story == [(0xD3, 0x60), (0x60, 0x00)]
    assert apic.take() == 0x61
    assert apic.eoi() == 0x61 and apic.eoi() is None
    assert vectors(apic.isr) == [] and apic.ppr == 0


def test_the_lvt_timer_posts_its_vector_unless_masked():
    apic = Vlapic()
    assert apic.fire_timer() is None  # masked at reset
    apic.set_lvt_timer(0xD3, periodic=True)
    assert apic.fire_timer() == 0xD3 and vectors(apic.irr) == [0xD3]
    apic.set_lvt_timer(0xD3, masked=True)
    assert apic.fire_timer() is None


def test_an_msi_data_word_names_vector_and_trigger():
    """virtio's MSI data 0x4062 is an edge-triggered, fixed delivery of vector 0x62."""
    apic = Vlapic()
    assert apic.deliver_msi(0x4062) == 0x62
    assert vectors(apic.irr) == [0x62] and apic.tmr == 0
    assert apic.deliver_msi(0x8000 | 0x70) == 0x70 and vectors(apic.tmr) == [0x70]


@pytest.mark.parametrize("bad", [0, 15, 256, -1, "0x60"])
def test_illegal_vectors_are_one_line_errors(bad):
    with pytest.raises(UsageError) as err:
        Vlapic().accept_msi(bad)
    assert "\n" not in str(err.value) and "16..255" in str(err.value)
    with pytest.raises(UsageError):
        check_vector(bad)


@pytest.mark.parametrize("bad", [0x100, -1])
def test_tpr_must_fit_eight_bits(bad):
    with pytest.raises(UsageError) as err:
        Vlapic().set_tpr(bad)
    assert "\n" not in str(err.value)
