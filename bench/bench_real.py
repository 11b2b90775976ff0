"""Real-machine figures: port-I/O exit costs, litmus throughput, lost notifications.

    python bench/bench_real.py [--exits N] [--iterations N]

A port-I/O exit measured (1) by a plain C loop calling KVM_RUN itself,
(2) through the vCPU thread's C fast path driven from Python via cffi,
(3) with every exit handed to a Python callback. Target: (3) <= 1.3 x (1).
Then OS-7613 inside a guest: lost notifications per million with the guest
driver fenced (as in Linux) and the device's fence off, then on.
"""
from __future__ import annotations

import argparse
import struct
import sys
import time

from simulator.real import available, native_available
from simulator.real._native import ensure, native
from simulator.real.litmus import store_buffer_litmus, virtio_race
from simulator.real.machine import Vm

DATA, PORT_COUNT = 0x100000, 0x14


def c_loop(exits: int) -> float:
    ffi, lib = native()
    elapsed = ffi.new("uint64_t *")
    ensure(lib.hvr_bench__io_loop(exits, 600_000, elapsed))
    return elapsed[0] / 1e3 / exits


def vcpu_path(exits: int, python: bool) -> float:
    with Vm("io_loop") as vm:
        vm.write(DATA, struct.pack("<Q", exits))
        vcpu = vm.vcpu()
        if python:
            vcpu.on_port(PORT_COUNT, lambda port, out, value: None)
        start = time.perf_counter()
        reason = vcpu.run(600_000)
        elapsed = time.perf_counter() - start
    assert reason == "done", reason
    return elapsed * 1e6 / exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exits", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if not native_available():
        print(f"skipped: {native_available().reason}")
        return 0
    if available():
        c = c_loop(args.exits)
        fast = vcpu_path(args.exits, python=False)
        slow = vcpu_path(args.exits, python=True)
        print(f"port-I/O exit, plain C loop:      {c:7.2f} us")
        print(f"port-I/O exit, cffi fast path:    {fast:7.2f} us  ({fast / c:.2f} x C)")
        print(f"port-I/O exit, Python callback:   {slow:7.2f} us  ({slow / c:.2f} x C, "
              f"target <= 1.3 x)")
    else:
        print(f"port-I/O exits skipped: {available().reason}")
    for fence in (False, True):
        r = store_buffer_litmus(fence=fence, iterations=args.iterations)
        print(f"litmus SB {'with' if fence else 'without'} mfence: "
              f"{r.observed['iterations_per_s']:,} iterations/s, "
              f"r0=0 r1=0 seen {r.observed['outcomes']['r0=0 r1=0']:,} times")
    if available():
        for fence in (False, True):
            r = virtio_race(fence=fence, iterations=args.iterations)
            print(f"virtio race, guest fenced, device {'fenced' if fence else 'unfenced'}: "
                  f"{r.observed['lost_per_million']:,} lost per million")
    return 0


if __name__ == "__main__":
    sys.exit(main())
