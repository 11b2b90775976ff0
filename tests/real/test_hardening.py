"""The native backend never leaks or lies, seen from Python: a port handler's own
exception reaches the caller; closing a VM while its vCPU sits in a slow handler
frees nothing under the live thread and leaves no fd behind; VMs are freed without
the cyclic garbage collector; a full guest log is reported, never cut short;
threads are pinned only within the CPUs this process may use; bad counts are
refused before they reach C. (C-level tests of the same rules: native/tests,
run under sanitizers by ``make sanitize``.) Time limits here are hang guards."""
from __future__ import annotations

import errno
import gc
import os
import struct
import subprocess
import sys
import threading
import time

import pytest

from simulator.errors import UsageError
from simulator.real._native import RealMachineError
from simulator.real.machine import Vm

DATA, PORT_COUNT, PORT_LOG = 0x100000, 0x14, 0x11
GUARD_S = 60


class HandlerBroke(Exception):
    pass


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    from simulator.real._native import lib

    return lib.hvr_vcpu__threads()


def _settle(want_threads: int) -> None:
    """Wait (hang guard) until the vCPU threads still finishing have left."""
    deadline = time.monotonic() + GUARD_S
    while _threads() != want_threads:
        assert time.monotonic() < deadline, "timed out: a vCPU thread never left"
        time.sleep(0.01)


def _io_vm(n: int, port: int = 0) -> Vm:
    vm = Vm("io_loop")
    vm.write(DATA, struct.pack("<QQ", n, port))
    return vm


def test_a_raising_port_handler_raises_its_own_exception(kvm):
    def handler(port, out, value):
        raise HandlerBroke(f"port {port:#x} got {value}")

    with _io_vm(3) as vm:
        vcpu = vm.vcpu()
        vcpu.on_port(PORT_COUNT, handler)
        with pytest.raises(HandlerBroke, match="port 0x14 got 3") as info:
            vcpu.run(GUARD_S * 1000)
    assert any("port handler" in note for note in info.value.__notes__)


@pytest.mark.parametrize("waiting", [True, False], ids=["run-in-flight", "resumed"])
def test_close_during_a_slow_handler_frees_nothing_under_it(kvm, waiting):
    """The vCPU's handler blocks; the main thread closes the VM, while another
    thread waits in run() or while nobody waits (resume). close() returns while the
    handler still blocks, run() returns promptly too, and once the handler returns
    its thread leaves and every fd is closed."""
    fds, threads = _fds(), _threads()
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []
    outcome: list[object] = []

    def slow(port, out, value):
        calls.append(value)
        entered.set()
        release.wait(GUARD_S)

    vm = _io_vm(1000)
    vcpu = vm.vcpu()
    vcpu.on_port(PORT_COUNT, slow)

    def controller():
        try:
            outcome.append(vcpu.run(GUARD_S * 1000))
        except RealMachineError as exc:
            outcome.append(exc)

    a = threading.Thread(target=controller if waiting else vcpu.resume)
    a.start()
    assert entered.wait(GUARD_S), "timed out: the handler never ran"
    vm.close()
    a.join(GUARD_S)
    assert not a.is_alive(), "timed out: run() waited for the handler"
    assert not release.is_set()  # both returned while the handler still blocked
    if waiting:
        assert isinstance(outcome[0], RealMachineError) and "closed" in str(outcome[0])
    release.set()
    _settle(threads)
    assert calls == [1000]  # never called back after the close
    assert _fds() == fds


def test_a_handler_may_close_its_own_vm(kvm):
    fds, threads = _fds(), _threads()
    vm = _io_vm(1000)
    vcpu = vm.vcpu()
    vcpu.on_port(PORT_COUNT, lambda port, out, value: vm.close())
    try:
        vcpu.run(GUARD_S * 1000)
    except RealMachineError as exc:  # or it returns "kicked": either way it is over
        assert "closed" in str(exc)
    assert vm.closed
    _settle(threads)
    assert _fds() == fds


def test_vms_are_freed_without_the_cyclic_collector(kvm):
    fds, threads = _fds(), _threads()
    gc.disable()
    try:
        for _ in range(20):
            vm = Vm("io_loop")
            vcpu = vm.vcpu()
            vcpu.on_port(PORT_COUNT, lambda port, out, value: None)
            del vm, vcpu
        assert _fds() == fds and _threads() == threads
    finally:
        gc.enable()


def test_a_closed_vm_refuses_calls(kvm):
    vm = _io_vm(1)
    vcpu = vm.vcpu()
    vm.close()
    vm.close()  # twice is fine
    for call in (lambda: vcpu.run(10), lambda: vm.read(DATA, 8), vcpu.kick, vm.vcpu):
        with pytest.raises(RealMachineError, match="closed"):
            call()


def test_a_full_log_is_never_cut_short(kvm):
    from simulator.real._native import lib

    most = lib.HVR_LOG_MAX
    with _io_vm(most, PORT_LOG) as vm:
        vcpu = vm.vcpu()
        assert vcpu.run(GUARD_S * 1000) == "done"
        assert vcpu.log() == list(range(most, 0, -1))
    with _io_vm(most + 1, PORT_LOG) as vm:
        vcpu = vm.vcpu()
        assert vcpu.run(GUARD_S * 1000) == "done"
        with pytest.raises(RealMachineError, match=f"logged {most + 1} values"):
            vcpu.log()


def test_a_wait_that_times_out_says_none_and_a_kick_parks(kvm):
    with _io_vm(1 << 40) as vm:
        vcpu = vm.vcpu()
        vcpu.resume()
        assert vcpu.wait(1) is None
        assert vcpu.kick() == "kicked"


def test_the_benchmark_loop_times_out(kvm):
    from simulator.real._native import ffi, lib

    elapsed = ffi.new("uint64_t *")
    assert lib.hvr_bench__io_loop(1 << 62, 100, elapsed) == -errno.ETIMEDOUT
    assert "within 100 ms" in ffi.string(lib.hvr_error__last()).decode()


def test_counts_past_the_native_limits_are_refused_before_c(native):
    from simulator.real.litmus import store_buffer_litmus, virtio_race

    for call in (store_buffer_litmus, virtio_race):
        with pytest.raises(RealMachineError, match="iterations must be between 1 and"):
            call(iterations=10**20)


def test_the_cli_limits_are_the_libraries(native):
    from simulator.cli import cmd_real
    from simulator.real import apic_diff
    from simulator.real._native import lib

    assert cmd_real.MAX_ITERATIONS == lib.HVR_SB_MAX_ITERATIONS
    assert cmd_real.MAX_LENGTH == apic_diff.MAX_LENGTH == lib.HVR_LOG_MAX


def test_apic_diff_refuses_sequences_longer_than_the_guest_log(kvm):
    from simulator.real.apic_diff import MAX_LENGTH, compare

    with pytest.raises(UsageError, match=f"1 to {MAX_LENGTH} operations"):
        compare(seeds=1, length=MAX_LENGTH + 1)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two allowed CPUs")
def test_experiments_run_within_a_narrower_cpu_mask(kvm):
    """Under taskset-like limits that exclude CPU 0 the experiments still run, and
    the caller's CPU mask is given back unchanged."""
    allowed = sorted(os.sched_getaffinity(0))[1:]
    code = (f"import os, sys; os.sched_setaffinity(0, {set(allowed)!r});"
            "from simulator.real.litmus import store_buffer_litmus, virtio_race;"
            "a = store_buffer_litmus(fence=True, iterations=40, instances=20);"
            "b = virtio_race(fence=True, iterations=40, instances=20);"
            f"assert sorted(os.sched_getaffinity(0)) == {allowed!r};"
            "print(a.agrees and b.agrees)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=GUARD_S)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
