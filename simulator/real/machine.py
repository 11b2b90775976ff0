"""A KVM virtual machine and its vCPUs, as small Python objects over the C backend.

A ``Vm`` is a VM with an in-kernel irqchip and one memory slot at guest
physical 0, into which a guest (a flat binary assembled at build time) is
loaded. A ``Vcpu`` runs that guest on its own host thread; the caller runs
it until it stops by itself (``done``, ``wait_cmd``) or for at most a
timeout, after which it is kicked out of ``KVM_RUN``. A kicked vCPU keeps
its state: a halted guest stays halted, and its LAPIC can be read.
"""
from __future__ import annotations

from collections.abc import Callable

from simulator.real._native import RealMachineError, ensure, native, require_kvm

STOP_REASONS = {0: "none", 1: "done", 2: "wait_cmd", 3: "kicked", 4: "callback", 5: "error"}
MIB = 1 << 20

PortHandler = Callable[[int, bool, int], "int | None"]


class Vm:
    """A KVM VM: in-kernel irqchip, ``mem_bytes`` of RAM at guest-physical 0."""

    _vm = None

    def __init__(self, guest: str, mem_bytes: int = 2 * MIB):
        self.vcpus: list[Vcpu] = []
        require_kvm()
        self._ffi, self._lib = native()
        out = self._ffi.new("struct hvr_vm **")
        ensure(self._lib.hvr_vm__create(out, mem_bytes))
        self._vm = out[0]
        try:
            ensure(self._lib.hvr_vm__load_guest(self._vm, guest.encode()))
        except RealMachineError:
            self.close()
            raise

    @property
    def handle(self):
        if self._vm is None:
            raise RealMachineError("this VM is closed")
        return self._vm

    @property
    def mem_size(self) -> int:
        return int(self._lib.hvr_vm__mem_size(self.handle))

    def write(self, gpa: int, data: bytes) -> None:
        """Copy bytes into guest memory (the range is checked against its size)."""
        _check_u64(gpa, "guest address")
        ensure(self._lib.hvr_vm__write(self.handle, gpa, data, len(data)))

    def read(self, gpa: int, size: int) -> bytes:
        """Copy ``size`` bytes out of guest memory."""
        _check_u64(gpa, "guest address")
        _check_u64(size, "size")
        buf = self._ffi.new("uint8_t[]", max(size, 1))
        ensure(self._lib.hvr_vm__read(self.handle, gpa, buf, size))
        return bytes(self._ffi.buffer(buf, size))

    def signal_msi(self, vector: int, apic_id: int = 0) -> None:
        """Post an MSI (fixed delivery, edge) to a local APIC, as a device would."""
        ensure(self._lib.hvr_vm__signal_msi(self.handle, _u32(apic_id), _u32(vector)))

    def vcpu(self, ring3: bool = False) -> Vcpu:
        """Create a vCPU in 64-bit mode at the guest entry point (ring 0 or ring 3)."""
        vcpu = Vcpu(self, ring3)
        self.vcpus.append(vcpu)
        return vcpu

    def close(self) -> None:
        """Stop every vCPU thread and free the VM's fds and memory."""
        if self._vm is not None:
            self._lib.hvr_vm__destroy(self._vm)
            self._vm = None
            for vcpu in self.vcpus:
                vcpu._vcpu = None

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        self.close()


class Vcpu:
    """A vCPU and the host thread that runs it (see ``Vm.vcpu``)."""

    def __init__(self, vm: Vm, ring3: bool):
        self.vm = vm
        self._ffi, self._lib = vm._ffi, vm._lib
        out = self._ffi.new("struct hvr_vcpu **")
        ensure(self._lib.hvr_vcpu__create(vm.handle, out, 1 if ring3 else 0))
        self._vcpu = out[0]
        self._handler: PortHandler | None = None
        self._self_handle = self._ffi.new_handle(self)
        self.callback_error: BaseException | None = None

    @property
    def handle(self):
        if self._vcpu is None:
            raise RealMachineError("this vCPU's VM is closed")
        return self._vcpu

    def on_port(self, port: int, handler: PortHandler) -> None:
        """Handle a port in Python: ``handler(port, is_out, value)`` returns the
        value for an ``in`` (or None), and may raise StopIteration to park the vCPU."""
        self._handler = handler
        ensure(self._lib.hvr_vcpu__set_callback(self.handle, self._lib.hvr_py_io,
                                                self._self_handle))
        ensure(self._lib.hvr_vcpu__route(self.handle, _u32(port), 1))

    def route_to_c(self, port: int) -> None:
        """Hand a port back to the C fast path."""
        ensure(self._lib.hvr_vcpu__route(self.handle, _u32(port), 0))

    def run(self, timeout_ms: int = 1000) -> str:
        """Run the guest until it stops by itself, or kick it after ``timeout_ms``.
        Returns why it stopped: done, wait_cmd, kicked or callback."""
        reason = ensure(self._lib.hvr_vcpu__run(self.handle, _u32(timeout_ms)))
        self._raise_callback_error()
        return STOP_REASONS[reason]

    def resume(self) -> None:
        """Let the vCPU thread run the guest; do not wait."""
        ensure(self._lib.hvr_vcpu__resume(self.handle))

    def wait(self, timeout_ms: int) -> str | None:
        """Wait for the vCPU to stop by itself; None if it still runs after the timeout."""
        rc = self._lib.hvr_vcpu__wait(self.handle, _u32(timeout_ms))
        if rc == -110:  # ETIMEDOUT
            return None
        reason = ensure(rc)
        self._raise_callback_error()
        return STOP_REASONS[reason]

    def kick(self) -> str:
        """Force the vCPU out of KVM_RUN (immediate_exit + a signal) and park it."""
        return STOP_REASONS[ensure(self._lib.hvr_vcpu__kick(self.handle))]

    def post(self, cmd: int, arg: int = 0) -> None:
        """Leave a command for a guest that fetches commands from HVR_PORT_CMD."""
        ensure(self._lib.hvr_vcpu__post_cmd(self.handle, _u32(cmd), _u32(arg)))

    def pin(self, cpu: int) -> None:
        """Pin the vCPU thread to a host CPU (-1: any CPU)."""
        ensure(self._lib.hvr_vcpu__pin(self.handle, cpu))

    @property
    def done_value(self) -> int:
        return int(self._lib.hvr_vcpu__done_value(self.handle))

    @property
    def count(self) -> int:
        """Writes to HVR_PORT_COUNT handled by the C fast path."""
        return int(self._lib.hvr_vcpu__count(self.handle))

    @property
    def exits(self) -> int:
        return int(self._lib.hvr_vcpu__exits(self.handle))

    def log(self) -> list[int]:
        """Values the guest wrote to HVR_PORT_LOG, oldest first."""
        buf = self._ffi.new("uint32_t[4096]")
        n = ensure(self._lib.hvr_vcpu__log(self.handle, buf, 4096))
        return [int(buf[i]) for i in range(min(n, 4096))]

    def regs(self) -> dict[str, int]:
        """General registers of a parked vCPU."""
        regs = self._ffi.new("struct hvr_regs *")
        ensure(self._lib.hvr_vcpu__regs(self.handle, regs))
        names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rip", "rflags")
        return {name: int(getattr(regs, name)) for name in names}

    def apic(self):
        """The raw LAPIC and MP state of a parked vCPU (struct hvr_apic_state)."""
        st = self._ffi.new("struct hvr_apic_state *")
        ensure(self._lib.hvr_vcpu__apic(self.handle, st))
        return st

    def _on_io(self, port: int, is_out: int, value) -> int:
        try:
            result = self._handler(port, bool(is_out), int(value[0]))
        except StopIteration:
            return 1
        except BaseException as exc:  # surfaced by run(); C only sees a failure code
            self.callback_error = exc
            return -1
        if not is_out and result is not None:
            value[0] = int(result) & 0xFFFFFFFF
        return 0

    def _raise_callback_error(self) -> None:
        if self.callback_error is not None:
            exc, self.callback_error = self.callback_error, None
            raise RealMachineError(f"the port callback raised: {exc!r}") from exc


def _check_u64(value: int, what: str) -> None:
    if not 0 <= int(value) < 1 << 64:
        raise RealMachineError(f"{what} {value:#x} is outside 0..2^64-1")


def _u32(value: int) -> int:
    if not 0 <= int(value) < 1 << 32:
        raise RealMachineError(f"{value} is outside 0..2^32-1")
    return int(value)


def _register_callback() -> None:
    try:
        ffi, lib = native()
    except RealMachineError:
        return

    @ffi.def_extern(onerror=lambda *exc: -1)
    def hvr_py_io(user, port, is_out, value):
        return ffi.from_handle(user)._on_io(port, is_out, value)


_register_callback()
