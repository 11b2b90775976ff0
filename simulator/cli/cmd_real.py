"""``python -m simulator real``: the course's claims, checked on this machine.

Every experiment prints (or, with ``--json``, returns) the claim, what was
observed and whether they agree; the exit status follows ``exits.agreement``:
0 agrees, 1 DISAGREES, 2 bad input or no KVM. ``real check`` only reports.
"""
from __future__ import annotations

import argparse
import json

from simulator.cli import exits
from simulator.errors import UsageError

NAME = "real"
HELP = "run the real-machine experiments (KVM, store buffering, signals)"
KVM_EXPERIMENTS = ("apic", "apic-diff", "virtio-race")
EPILOG = ("exit status: 0 the machine agrees with the course's claim, 1 it DISAGREES, "
          "2 bad input or KVM unavailable (check: always 0, it only reports)")
MAX_ITERATIONS = 1 << 40  # HVR_SB_MAX_ITERATIONS in native/hvr.h
MAX_LENGTH = 4096  # HVR_LOG_MAX: the guest log holds the handlers of one sequence


def _fence_args(p: argparse.ArgumentParser, default_iterations: int, fence_help: str) -> None:
    p.add_argument("--fence", action=argparse.BooleanOptionalAction, default=False,
                   help=fence_help)
    p.add_argument("--iterations", type=int, default=default_iterations,
                   help="instances to run (default %(default)s)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    sub = parser.add_subparsers(dest="experiment", required=True)
    sub.add_parser("check", help="say whether KVM can be used here, and why not")
    sub.add_parser("apic", help="OS-6829's reference: TPR, MSIs and a halted vCPU")
    litmus = sub.add_parser("litmus", help="store buffering on two pinned host threads")
    _fence_args(litmus, 100_000, "mfence between store and load: on both threads for sb, "
                "on the device's thread only for virtio")
    litmus.add_argument("--shape", choices=["sb", "virtio"], default="sb",
                        help="plain SB, or named as the virtio notification race")
    litmus.add_argument("--driver-fence", action=argparse.BooleanOptionalAction, default=None,
                        help="virtio shape: the driver's mfence (default on, as in Linux)")
    race = sub.add_parser("virtio-race", help="OS-7613 inside a real KVM guest")
    _fence_args(race, 100_000, "the device's mfence (host thread: store used idx; mfence; "
                "load avail flags) - the barrier bhyve lacked")
    race.add_argument("--guest-fence", action=argparse.BooleanOptionalAction, default=True,
                      help="the guest driver's mfence (default on: Linux's virtqueue_poll "
                           "always has it)")
    diff = sub.add_parser("apic-diff", help="OS-6829: the vLAPIC model against KVM's LAPIC, "
                          "step by step on seeded sequences")
    diff.add_argument("--seeds", type=int, default=50, help="random sequences (default 50)")
    diff.add_argument("--variant", choices=["fixed", "buggy"], default="fixed",
                      help="the model's vmx_set_intr_ready")
    diff.add_argument("--length", type=int, default=12,
                      help=f"operations per sequence (1-{MAX_LENGTH}, default 12)")
    sub.add_parser("signals", help="thread- vs process-directed SIGCONT, and EINTR")
    sub.add_parser("blockif", help="hyperkit #94: blockif_cancel's wait for SIGCONT on real "
                   "threads (thread-directed, process-directed, caught)")
    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.epilog = EPILOG


def _isr_line(kvm_ok: bool) -> str:
    if not kvm_ok:
        return "not probed (no KVM)"
    from simulator.real import isr_observable

    if isr_observable():
        return "kept until EOI - ISR and PPR can be compared with the vLAPIC model"
    return ("never set on delivery (acts as auto-EOI) - compare IRR, TPR and halted only, "
            "not ISR or PPR")


def _check(args) -> int:
    from simulator.real import available, native_available

    kvm, ext = available(), native_available()
    isr = _isr_line(kvm.ok)
    if args.json:
        print(json.dumps({"experiment": "check", "kvm": kvm.ok, "native": ext.ok,
                          "expected": "KVM usable for the apic and virtio-race experiments",
                          "observed": {"kvm": kvm.reason, "native": ext.reason,
                                       "in_service": isr},
                          "agrees": kvm.ok}, indent=2))
    else:
        print(f"native extension: {'yes' if ext.ok else 'no'} - {ext.reason}")
        print(f"KVM:              {'yes' if kvm.ok else 'no'} - {kvm.reason}")
        print(f"LAPIC in-service: {isr}")
    return 0


def _validate(args) -> None:
    """Refuse numbers the experiments cannot honour before any work is done."""
    iterations = getattr(args, "iterations", None)
    if iterations is not None and not 1 <= iterations <= MAX_ITERATIONS:
        raise UsageError(f"--iterations must be between 1 and {MAX_ITERATIONS:,} (2^40), "
                         f"not {iterations}")
    if args.experiment == "apic-diff":
        if args.seeds < 0:
            raise UsageError(f"--seeds must be 0 or more, not {args.seeds}")
        if not 1 <= args.length <= MAX_LENGTH:
            raise UsageError(f"--length must be between 1 and {MAX_LENGTH} (the guest "
                             f"keeps the handlers of at most {MAX_LENGTH} steps), not "
                             f"{args.length}")


def _run_experiment(args):
    if args.experiment in KVM_EXPERIMENTS:
        from simulator.real import available

        kvm = available()
        if not kvm:
            raise UsageError(f"KVM is not available: {kvm.reason}")
    if args.experiment == "apic":
        from simulator.real.apic import apic_wakeup
        return apic_wakeup()
    if args.experiment == "apic-diff":
        from simulator.real.apic_diff import apic_diff
        return apic_diff(args.seeds, args.variant, args.length)
    if args.experiment == "litmus":
        from simulator.real.litmus import store_buffer_litmus
        if args.shape == "sb" and args.driver_fence is not None:
            raise UsageError("--driver-fence needs --shape virtio (for sb, --fence covers "
                             "both threads)")
        return store_buffer_litmus(fence=args.fence, iterations=args.iterations,
                                   shape=args.shape, driver_fence=args.driver_fence)
    if args.experiment == "virtio-race":
        from simulator.real.litmus import virtio_race
        return virtio_race(fence=args.fence, iterations=args.iterations,
                           guest_fence=args.guest_fence)
    if args.experiment == "blockif":
        from simulator.real.signals import blockif_cancel
        return blockif_cancel()
    from simulator.real.signals import signal_delivery
    return signal_delivery()


def _print_text(result) -> None:
    print(f"experiment: {result.experiment}  {result.params}")
    print(f"expected:   {result.expected}")
    for key, value in result.observed.items():
        if key == "steps":
            for step in value:
                print(f"  {step}")
        else:
            print(f"observed:   {key} = {value}")
    for note in result.notes:
        print(f"note:       {note}")
    print(result.summary())


def run(args) -> int:
    if args.experiment == "check":
        return _check(args)
    _validate(args)
    from simulator.real import native_available

    ext = native_available()
    if not ext:
        raise UsageError(f"the native extension is unavailable: {ext.reason}")
    result = _run_experiment(args)
    if args.json:
        print(result.to_json())
    else:
        _print_text(result)
    return exits.agreement(result.agrees)
