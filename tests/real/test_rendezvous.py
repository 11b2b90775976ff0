"""OS-7622 on KVM: an IOAPIC write never waits for a vCPU that cannot run.

vCPU0's guest reprograms pin 6 (the report's 0x1a036) while vCPU1, the
entry's target, is parked outside KVM_RUN or spinning in the guest. KVM
answers with a request and, at most, a wait for vCPU1 to leave guest mode:
the write completes either way. Outcomes only; the timeouts are hang guards.
"""
import json
import subprocess
import sys

import pytest

from simulator.real import RealMachineError
from simulator.real.rendezvous import PIN_LOW, TARGET, ioapic_request, one_round

ENTRY = (TARGET << 56) | PIN_LOW


@pytest.mark.parametrize("case", ["parked", "running"])
def test_the_write_completes_whatever_vcpu1_is_doing(kvm, case):
    seen = one_round(case)
    assert seen["write_completed"], seen
    assert seen["entry"] == ENTRY and seen["read_back"] == [PIN_LOW]
    assert seen["other_finished"]


def test_vcpu1_is_not_stopped_by_the_request(kvm):
    """KVM kicks a vCPU in guest mode and lets it go straight back in: vCPU1's
    guest is still spinning when the write has completed."""
    seen = one_round("running")
    assert seen["other_started"] and seen["other_still_running"]


def test_the_harness_sees_a_vcpu_that_cannot_run(kvm):
    """Without INIT/SIPI (or KVM_SET_MP_STATE) an application processor never
    enters its guest: the round reports it never started and never finished -
    while vCPU0's write still completes."""
    seen = one_round("running", timeout_ms=300, runnable=False)
    assert seen["write_completed"]
    assert not seen["other_started"] and not seen["other_finished"]


def test_the_experiment_agrees(kvm):
    result = ioapic_request(rounds=3)
    assert result.agrees, result.observed
    assert result.observed["parked"]["writes_completed"] == 3
    assert result.observed["running"]["vcpu1_still_in_guest_after"] == 3


@pytest.mark.parametrize("rounds", [0, 1001])
def test_bad_rounds_are_refused(native, rounds):
    with pytest.raises(RealMachineError, match="--rounds"):
        ioapic_request(rounds=rounds)


def test_unknown_case(kvm):
    with pytest.raises(RealMachineError, match="unknown case"):
        one_round("asleep")


def test_cli_json(kvm):
    done = subprocess.run([sys.executable, "-m", "simulator", "real", "rendezvous", "--json",
                           "--rounds", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["experiment"] == "rendezvous" and out["agrees"] is True
    assert set(out["observed"]) == {"parked", "running"}


def test_cli_without_kvm_is_one_line(native):
    done = subprocess.run([sys.executable, "-m", "simulator", "real", "rendezvous"],
                          capture_output=True, text=True, timeout=60,
                          env={"HVRACES_NO_KVM": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "KVM is not available" in done.stderr


@pytest.mark.notebooks
def test_chapter_5_skips_its_real_machine_without_kvm(monkeypatch):
    """With KVM hidden, the lesson's KVM experiment says why it was skipped; nothing raises."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    course = Path(__file__).resolve().parents[2] / "course"
    sys.path.insert(0, str(course.parent / "tests"))
    from test_course import real_machine_section

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HVRACES_NO_KVM", "1")
    nb = real_machine_section(nbformat.read(course / "05-Write-Lock-Rendezvous.ipynb", 4))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(course)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert text.count("skipped: /dev/kvm is missing (hidden by HVRACES_NO_KVM=1)") == 1
