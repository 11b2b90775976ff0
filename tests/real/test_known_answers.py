"""Tier 2: guests whose port writes and registers are known in advance."""
from __future__ import annotations

import struct

import pytest

from simulator.real._native import RealMachineError
from simulator.real.machine import Vm

DATA = 0x100000
PORT_COUNT = 0x14


def _io_loop(n: int) -> Vm:
    vm = Vm("io_loop")
    vm.write(DATA, struct.pack("<Q", n))
    return vm


def test_port_writes_are_counted(kvm):
    """The io_loop guest writes the count port N times, then reports N as done."""
    with _io_loop(1000) as vm:
        vcpu = vm.vcpu()
        assert vcpu.run(5000) == "done"
        assert vcpu.count == 1000 and vcpu.done_value == 1000


def test_register_known_answer(kvm):
    """At its done port the guest holds 0xc0ffee in rbx and N in rax."""
    with _io_loop(3) as vm:
        vcpu = vm.vcpu()
        vcpu.run(5000)
        regs = vcpu.regs()
        assert regs["rbx"] == 0xC0FFEE and regs["rax"] == 3


def test_python_callback_path(kvm):
    """Routing the count port to Python hands every write to the callback."""
    seen: list[int] = []
    with _io_loop(50) as vm:
        vcpu = vm.vcpu()
        vcpu.on_port(PORT_COUNT, lambda port, out, value: seen.append(value))
        assert vcpu.run(5000) == "done"
        assert vcpu.count == 0
    assert seen == list(range(50, 0, -1))


def test_memory_round_trip(kvm):
    """What the host writes into guest memory it reads back."""
    with Vm("io_loop") as vm:
        vm.write(DATA + 8, b"virtio")
        assert vm.read(DATA + 8, 6) == b"virtio"


@pytest.mark.parametrize("gpa", [0x200000 - 2, 0x200000, 1 << 40])
def test_address_outside_memory_is_one_line(kvm, gpa):
    """A guest address outside memory is refused with a one-line error."""
    with Vm("io_loop") as vm, pytest.raises(RealMachineError, match="outside guest memory"):
        vm.write(gpa, b"four")


def test_negative_address_is_refused(kvm):
    with Vm("io_loop") as vm, pytest.raises(RealMachineError):
        vm.read(-16, 4)


@pytest.mark.parametrize("vector", [0, 15, 256])
def test_bad_vector_is_refused(kvm, vector):
    """Vectors below 16 (and above 255) are not interrupt vectors."""
    with Vm("io_loop") as vm, pytest.raises(RealMachineError, match="vector"):
        vm.signal_msi(vector)


def test_unknown_guest(kvm):
    with pytest.raises(RealMachineError, match="no guest called"):
        Vm("nonesuch")


def test_halted_vcpu_can_be_kicked_and_read(kvm):
    """A guest halted with TPR 0x70 stays halted; kicked out of KVM_RUN, its state reads."""
    from simulator.real.apic import ApicLab

    with ApicLab() as lab:
        lab.set_tpr(0x70)
        assert lab.halt() is False
        st = lab.state()
        assert st.halted and st.tpr == 0x70 and st.ppr == 0x70
