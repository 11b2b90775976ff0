"""Helpers for the grading tests: run a check on an answer the way a grade cell does."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import nbformat
import pytest

from simulator.grading.answers import last_binding
from simulator.grading.client import run_request
from simulator.grading.instructor import instructor_dir
from simulator.grading.result import CheckResult

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"

needs_instructor = pytest.mark.skipif(
    instructor_dir() is None, reason="the instructor's hidden checks (solutions/grading) are "
                                     "not in this copy")


def class_answer(source: str, name: str | None = None) -> dict:
    source = textwrap.dedent(source).strip() + "\n"
    if name is None:
        name = source.split("class ", 1)[1].split("(", 1)[0].split(":", 1)[0].strip()
    return {"kind": "class", "name": name, "source": source}


def data_answer(value) -> dict:
    return {"kind": "data", "value": value}


def subclass_source(base: str, body: str, name: str, method: str | None = None) -> str:
    """The text of a student's class ``name`` deriving from ``base``: ``body``
    holds its methods or, with ``method``, the body of that one method."""
    body = textwrap.dedent(body).strip()
    if method is not None:
        body = f"def {method}:\n" + textwrap.indent(body, " " * 4)
    return f"class {name}({base}):\n" + textwrap.indent(body, " " * 4) + "\n"


def subclass_answer(base: str, body: str, name: str, method: str | None = None) -> dict:
    """``subclass_source`` as the answer a grade cell hands in."""
    return class_answer(subclass_source(base, body, name, method))


# ------------------------------------------- wrong answers several tests hand in
# Chapter 1: a locked op on the used *entry*: it drains, but the used.idx store
# after it waits (methods of a VirtioDevice).
LOCKED_TOO_EARLY = """
def vq_relchain(self, head, iolen):
    r = self.ring
    uidx = yield ops.load(r.USED_IDX, "vq_relchain")
    yield ops.swap(r.used_id(uidx), head, "vq_relchain")
    yield ops.store(r.used_len(uidx), iolen, "vq_relchain")
    yield ops.store(r.USED_IDX, (uidx + 1) & U16, "vq_relchain")
"""


# Chapter 4: the renewal signs without vr_lock and does not look again before sleeping
# (methods of a VionaRing).
RING_SIGNS_UNLOCKED = '''
def viona_ring_lease_expire_cb(self):
    yield ops.lock(self.vr_lock, "viona_ring_lease_expire_cb")
    yield ops.cv_broadcast(self.vr_cv, "viona_ring_lease_expire_cb")
    yield ops.unlock(self.vr_lock, "viona_ring_lease_expire_cb")
    return False

def keep_lease_fresh(self):
    if (yield from self.leases.vmm_drv_lease_expired(self.lease)):
        yield from self.leases.vmm_drv_lease_break(self.lease)
        yield ops.unlock(self.vr_lock, "viona_ring_lease_renew")
        yield from self.leases.vmm_drv_lease_sign(self.lease)
        yield ops.lock(self.vr_lock, "viona_ring_lease_renew")
'''

# Chapter 5 (methods of a Vm): whoever comes first does every vCPU's part, so TMRs are
# written under running guests.
RENDEZVOUS_DOES_EVERY_PART = """
def vm_handle_rendezvous(self, vcpuid):
    rv = self.rendezvous
    yield ops.lock(rv.mtx, "vm_handle_rendezvous")
    if (yield ops.load(rv.func_cell, "vm_handle_rendezvous")):
        req = yield ops.load(rv.req_cell, "vm_handle_rendezvous")
        done = yield ops.load(rv.done_cell, "vm_handle_rendezvous")
        for i in members(req & ~done):
            yield from rv.func(i)
        yield ops.store(rv.done_cell, req, "vm_handle_rendezvous")
        yield ops.store(rv.func_cell, 0, "vm_set_rendezvous_func")
    yield ops.unlock(rv.mtx, "vm_handle_rendezvous")
"""
# Chapter 5: each vCPU does its own part and never waits for the others.
RENDEZVOUS_NO_WAIT = """
def vm_handle_rendezvous(self, vcpuid):
    rv = self.rendezvous
    yield ops.lock(rv.mtx, "vm_handle_rendezvous")
    if (yield ops.load(rv.func_cell, "vm_handle_rendezvous")):
        req = yield ops.load(rv.req_cell, "vm_handle_rendezvous")
        done = yield ops.load(rv.done_cell, "vm_handle_rendezvous")
        if req >> vcpuid & 1 and not done >> vcpuid & 1:
            yield from rv.func(vcpuid)
            done |= 1 << vcpuid
            yield ops.store(rv.done_cell, done, "vm_handle_rendezvous")
        if req == done:
            yield ops.store(rv.func_cell, 0, "vm_set_rendezvous_func")
    yield ops.unlock(rv.mtx, "vm_handle_rendezvous")

def vm_entry_blocked(self, vcpu):
    rv = self.rendezvous
    if (yield ops.load(rv.func_cell, "vcpu_rendezvous_pending")):
        done = yield ops.load(rv.done_cell, "vcpu_rendezvous_pending")
        if not done >> vcpu.vcpuid & 1:
            return EXIT_RENDEZVOUS
    return None
"""

def pir_rule(compare: str, name: str = "FixedPIR") -> str:
    """Chapter 2: a notification rule that notifies when ``compare`` holds,
    ``top`` being the highest other vector pending (a class's text)."""
    return subclass_source("PostedInterrupts", f"""
        old = yield ops.fetch_or(self.pending, PIR_MASK_PENDING, "vmx_set_intr_ready")
        if not old & PIR_MASK_PENDING:
            return True
        for i in range(PIR_WORDS - 1, -1, -1):
            word = yield ops.load(self.words[i], "vmx_set_intr_ready")
            if i == vector // 64:
                word &= ~(1 << (vector % 64))
            if word:
                top = i * 64 + word.bit_length() - 1
                return {compare}
        return True
        """, name, "notify_needed(self, vector)")


def solution_cells(notebook: str) -> dict[str, str]:
    """The code cells of a chapter's solution notebook, by cell id."""
    nb = nbformat.read(SOLUTIONS / notebook, as_version=4)
    return {c.id: c.source for c in nb.cells if c.cell_type == "code"}


def solution_answer(notebook: str, name: str) -> dict:
    """What the solution binds ``name`` to last, as the grader takes it."""
    binding = last_binding(list(solution_cells(notebook).values()), name)
    if binding.kind == "class":
        return class_answer(binding.text)
    return data_answer(ast.literal_eval(binding.text))


def grade(check_id: str, answer: dict, student: str = "alice", **kwargs) -> CheckResult:
    """The verdict of one check on one answer, from a fresh sandbox process."""
    return run_request([{"check": check_id, "answer": answer}], {"student": student},
                       **kwargs)[0]


def grade_all(check_ids: list[str], answer: dict, student: str = "alice") -> list[CheckResult]:
    """Several checks on one answer in one sandbox, up to the first that fails."""
    return run_request([{"check": c, "answer": answer} for c in check_ids],
                       {"student": student})
