"""A KVM virtual machine and its vCPUs, as small Python objects over the C backend.

A ``Vm`` is a VM with an in-kernel irqchip and one memory slot at guest
physical 0, into which a guest (a flat binary assembled at build time) is
loaded. A ``Vcpu`` runs that guest on its own host thread; the caller runs
it until it stops by itself (``done``, ``wait_cmd``) or for at most a
timeout, after which it is kicked out of ``KVM_RUN``. A kicked vCPU keeps
its state: a halted guest stays halted, and its LAPIC can be read.

Lifetimes. A ``Vcpu`` holds its ``Vm``; the ``Vm`` holds its vCPUs only
weakly, so dropping both frees the VM's fds at once (a finaliser, no wait
for the cyclic garbage collector). ``close()`` may come from any thread,
even from a port handler, while another thread is inside ``run()``: calls in
flight are stopped and the VM is freed when the last of them returns; a
vCPU thread still inside a slow port handler is left to free itself when
the handler returns (see native/vcpu.c). A port handler that raises hands
its exception, as it is, to the caller of ``run``/``wait``/``kick``.
"""
from __future__ import annotations

import errno
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simulator.real._native import RealMachineError, ensure, native, require_kvm

STOP_REASONS = {0: "none", 1: "done", 2: "wait_cmd", 3: "kicked", 4: "callback", 5: "error"}
MIB = 1 << 20

PortHandler = Callable[[int, bool, int], "int | None"]

# Port handlers by token. The C side holds only the token, never a pointer to a
# Python object, so a vCPU thread calling back after its Vcpu is gone finds
# nothing and stops, instead of touching freed memory.
_HANDLERS: dict[int, weakref.ref] = {}
_TOKENS = itertools.count(1)


class Vm:
    """A KVM VM: in-kernel irqchip, ``mem_bytes`` of RAM at guest-physical 0."""

    _vm = None

    def __init__(self, guest: str, mem_bytes: int = 2 * MIB):
        self._vcpus: list[weakref.ref[Vcpu]] = []
        self._lock = threading.Lock()
        self._calls = 0  # native calls in flight on this VM
        self._closing = False
        require_kvm()
        self._ffi, self._lib = native()
        _check_u64(mem_bytes, "guest memory size")
        out = self._ffi.new("struct hvr_vm **")
        ensure(self._lib.hvr_vm__create(out, mem_bytes))
        self._vm = out[0]
        self._destroy = weakref.finalize(self, self._lib.hvr_vm__destroy, self._vm)
        try:
            self._lib_call(self._lib.hvr_vm__load_guest, guest.encode())
        except RealMachineError:
            self.close()
            raise

    @contextmanager
    def use(self) -> Iterator:
        """The C handle, for one native call that is counted as in flight: a
        ``close()`` meanwhile stops the vCPUs and frees the VM only after it."""
        with self._lock:
            if self._vm is None or self._closing:
                raise RealMachineError("this VM is closed")
            self._calls += 1
        try:
            yield self._vm
        finally:
            with self._lock:
                self._calls -= 1
                last = self._closing and self._calls == 0
            if last:
                self._free()

    def _lib_call(self, fn, *args) -> int:
        with self.use() as vm:
            return ensure(fn(vm, *args))

    @property
    def handle(self):
        if self._vm is None or self._closing:
            raise RealMachineError("this VM is closed")
        return self._vm

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def vcpus(self) -> list[Vcpu]:
        return [v for v in (ref() for ref in self._vcpus) if v is not None]

    @property
    def mem_size(self) -> int:
        with self.use() as vm:
            return int(self._lib.hvr_vm__mem_size(vm))

    def write(self, gpa: int, data: bytes) -> None:
        """Copy bytes into guest memory (the range is checked against its size)."""
        _check_u64(gpa, "guest address")
        self._lib_call(self._lib.hvr_vm__write, gpa, data, len(data))

    def read(self, gpa: int, size: int) -> bytes:
        """Copy ``size`` bytes out of guest memory."""
        _check_u64(gpa, "guest address")
        _check_u64(size, "size")
        if size > self.mem_size:
            raise RealMachineError(f"cannot read {size} bytes: guest memory has "
                                   f"{self.mem_size}")
        buf = self._ffi.new("uint8_t[]", max(size, 1))
        self._lib_call(self._lib.hvr_vm__read, gpa, buf, size)
        return bytes(self._ffi.buffer(buf, size))

    def signal_msi(self, vector: int, apic_id: int = 0) -> None:
        """Post an MSI (fixed delivery, edge) to a local APIC, as a device would."""
        self._lib_call(self._lib.hvr_vm__signal_msi, _u32(apic_id), _u32(vector))

    def vcpu(self, ring3: bool = False) -> Vcpu:
        """Create a vCPU in 64-bit mode at the guest entry point (ring 0 or ring 3)."""
        vcpu = Vcpu(self, ring3)
        self._vcpus.append(weakref.ref(vcpu))
        return vcpu

    def close(self) -> None:
        """Stop every vCPU thread and free the VM's fds and memory. Safe from any
        thread and more than once; with calls in flight, the VM is freed when the
        last of them returns (they return promptly: their vCPUs are stopped)."""
        with self._lock:
            if self._vm is None or self._closing:
                return
            self._closing = True
            for vcpu in self.vcpus:
                vcpu._forget_handler()
            if self._calls:
                self._lib.hvr_vm__stop(self._vm)  # under the lock: the VM is still whole
                return
        self._free()

    def _free(self) -> None:
        self._destroy()  # hvr_vm__destroy, once
        self._vm = None

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Vcpu:
    """A vCPU and the host thread that runs it (see ``Vm.vcpu``)."""

    def __init__(self, vm: Vm, ring3: bool):
        self.vm = vm
        self._ffi, self._lib = vm._ffi, vm._lib
        out = self._ffi.new("struct hvr_vcpu **")
        vm._lib_call(self._lib.hvr_vcpu__create, out, 1 if ring3 else 0)
        self._vcpu = out[0]
        self._handler: PortHandler | None = None
        self._token: int | None = None
        self.callback_error: BaseException | None = None

    @property
    def handle(self):
        """The C handle; pass it to the library only inside ``vm.use()``."""
        self.vm.handle  # noqa: B018 - raises once the VM is closed
        return self._vcpu

    def _call(self, fn, *args) -> int:
        """``fn(vcpu, *args)`` as a call in flight on the VM; its raw return code."""
        with self.vm.use():
            return fn(self._vcpu, *args)

    def on_port(self, port: int, handler: PortHandler) -> None:
        """Handle a port in Python: ``handler(port, is_out, value)`` returns the
        value for an ``in`` (or None), and may raise StopIteration to park the
        vCPU. Any other exception stops the vCPU and is raised, as it is, by the
        ``run``/``wait``/``kick`` that was waiting for it."""
        self._handler = handler
        if self._token is None:
            self._token = next(_TOKENS)
            _HANDLERS[self._token] = weakref.ref(self)
            weakref.finalize(self, _HANDLERS.pop, self._token, None)
        ensure(self._call(self._lib.hvr_vcpu__set_callback, self._lib.hvr_py_io,
                          self._ffi.cast("void *", self._token)))
        ensure(self._call(self._lib.hvr_vcpu__route, _u32(port), 1))

    def route_to_c(self, port: int) -> None:
        """Hand a port back to the C fast path."""
        ensure(self._call(self._lib.hvr_vcpu__route, _u32(port), 0))

    def run(self, timeout_ms: int = 1000) -> str:
        """Run the guest until it stops by itself, or kick it after ``timeout_ms``.
        Returns why it stopped: done, wait_cmd, kicked or callback."""
        return self._reason(self._call(self._lib.hvr_vcpu__run, _u32(timeout_ms)))

    def resume(self) -> None:
        """Let the vCPU thread run the guest; do not wait."""
        ensure(self._call(self._lib.hvr_vcpu__resume))

    def wait(self, timeout_ms: int) -> str | None:
        """Wait for the vCPU to stop by itself; None if it still runs after the timeout."""
        rc = self._call(self._lib.hvr_vcpu__wait, _u32(timeout_ms))
        if rc == -errno.ETIMEDOUT:
            return None
        return self._reason(rc)

    def kick(self) -> str:
        """Force the vCPU out of KVM_RUN (immediate_exit + a signal) and park it."""
        return self._reason(self._call(self._lib.hvr_vcpu__kick))

    def post(self, cmd: int, arg: int = 0) -> None:
        """Leave a command for a guest that fetches commands from HVR_PORT_CMD."""
        ensure(self._call(self._lib.hvr_vcpu__post_cmd, _u32(cmd), _u32(arg)))

    def pin(self, cpu: int) -> None:
        """Pin the vCPU thread to a host CPU (-1: any CPU this process may use)."""
        if not -1 <= int(cpu) < 1 << 16:
            raise RealMachineError(f"CPU {cpu} is out of range")
        ensure(self._call(self._lib.hvr_vcpu__pin, int(cpu)))

    @property
    def done_value(self) -> int:
        return int(self._call(self._lib.hvr_vcpu__done_value))

    @property
    def count(self) -> int:
        """Writes to HVR_PORT_COUNT handled by the C fast path."""
        return int(self._call(self._lib.hvr_vcpu__count))

    @property
    def exits(self) -> int:
        return int(self._call(self._lib.hvr_vcpu__exits))

    def log(self) -> list[int]:
        """Values the guest wrote to HVR_PORT_LOG, oldest first. RealMachineError if
        it wrote more than the HVR_LOG_MAX the host keeps: a log is never cut short."""
        size = int(self._lib.HVR_LOG_MAX)
        buf = self._ffi.new(f"uint32_t[{size}]")
        n = ensure(self._call(self._lib.hvr_vcpu__log, buf, size))
        return [int(buf[i]) for i in range(n)]

    def regs(self) -> dict[str, int]:
        """General registers of a parked vCPU."""
        regs = self._ffi.new("struct hvr_regs *")
        ensure(self._call(self._lib.hvr_vcpu__regs, regs))
        names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rip", "rflags")
        return {name: int(getattr(regs, name)) for name in names}

    def apic(self):
        """The raw LAPIC and MP state of a parked vCPU (struct hvr_apic_state)."""
        st = self._ffi.new("struct hvr_apic_state *")
        ensure(self._call(self._lib.hvr_vcpu__apic, st))
        return st

    def exit_info(self) -> dict:
        """The exit that stopped the vCPU with an error, whole: KVM's exit reason,
        the internal-error suberror and its data words (or the hardware reason)."""
        x = self._ffi.new("struct hvr_exit_info *")
        ensure(self._call(self._lib.hvr_vcpu__exit_info, x))
        return {"reason": int(x.reason), "suberror": int(x.suberror),
                "data": [int(x.data[i]) for i in range(min(int(x.ndata), 16))]}

    # -------------------------------------------------------- the port callback
    def _on_io(self, port: int, is_out: int, value) -> int:
        try:
            result = self._handler(port, bool(is_out), int(value[0]))
            if not is_out and result is not None:
                value[0] = int(result) & 0xFFFFFFFF
        except StopIteration:
            return 1
        except BaseException as exc:  # handed to the waiting caller; C sees a failure code
            self.callback_error = exc
            return -1
        return 0

    def _forget_handler(self) -> None:
        """The VM is closing: a vCPU thread that calls back from now on finds nothing."""
        if self._token is not None:
            _HANDLERS.pop(self._token, None)

    def _reason(self, rc: int) -> str:
        """Why the vCPU stopped; the port handler's own exception if it raised."""
        if self.callback_error is not None:
            exc, self.callback_error = self.callback_error, None
            exc.add_note(f"(raised by the port handler on vCPU thread; the vCPU stopped: "
                         f"{_last_error(self._ffi, self._lib, rc)})")
            raise exc
        return STOP_REASONS[ensure(rc)]


def _last_error(ffi, lib, rc: int) -> str:
    if rc >= 0:
        return STOP_REASONS.get(rc, str(rc))
    return ffi.string(lib.hvr_error__last()).decode(errors="replace")


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
        ref = _HANDLERS.get(int(ffi.cast("uintptr_t", user)))
        vcpu = ref() if ref is not None else None
        if vcpu is None:  # its VM is closed, or the Vcpu is gone: stop
            return 1
        return vcpu._on_io(port, is_out, value)


_register_callback()
