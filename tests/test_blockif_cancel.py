"""hyperkit #94, blockif-cancel: a guest's TRIM times out and the VM hangs in blockif_cancel.

The story in tests: where each kernel sends a SIGCONT; the lock-free stack of
sig elems; the report's timeline in simulated time (macOS hangs at 35 s,
FreeBSD and illumos finish); the explorer finding the deadlock with its
wait-for cycle named, and verifying the other two; what would and would not
have fixed hyperkit.
"""
import pytest

from simulator import runs, scenarios
from simulator.engine import ops, waitfor
from simulator.engine.clock import drive_untimed
from simulator.engine.machine import Machine
from simulator.engine.strategies import Replay, RoundRobin
from simulator.models.blockif import (
    BST_BUSY,
    BST_DONE,
    BlockifCtxt,
    HyperkitBlockif,
    IllumosBlockif,
)
from simulator.models.host import FREEBSD, ILLUMOS, MACOS, SIG_IGN, SIGCONT, Process
from simulator.models.mevent import Kqueue
from simulator.search import search

SCENARIO = "blockif-cancel"
CYCLE = ("ioemu waits in blockif_cancel on bse_cond (signalled only by mevent), holding "
         "bc_mtx, sc->mtx; blkio waits in ata_ioreq_cb for sc->mtx (held by ioemu); "
         "mevent waits in kqueue_scan on kq (no SIGCONT reaches the kqueue")
SECOND = 10**9


def finish(m: Machine) -> Machine:
    drive_untimed(m, RoundRobin())
    return m


# ---------------------------------------------------------------- where SIGCONT goes
def kqueue_count(host, send: str) -> int:
    """One thread sends SIGCONT (to blkio, or to the process); what does the kqueue count?"""
    process = Process(host, {1: "mevent", 2: "ioemu", 3: "blkio"})
    kq = Kqueue(signals={SIGCONT: "SIGCONT"})
    process.watch(SIGCONT, kq)
    process.signal(SIGCONT, SIG_IGN)
    m = Machine(kq.cells(), cpus=1, memory_model="sc")
    program = process.pthread_kill(3, SIGCONT) if send == "thread" else process.kill(SIGCONT)
    m.add_thread("ioemu", 0, program)
    return finish(m).memory.cells["kq.SIGCONT"]


@pytest.mark.parametrize("host, thread_directed", [(FREEBSD, 1), (MACOS, 0)])
def test_only_freebsds_kqueue_hears_of_a_signal_sent_to_one_thread(host, thread_directed):
    """pthread_kill(blkio, SIGCONT) reaches EVFILT_SIGNAL on FreeBSD, not on macOS;
    kill(pid, SIGCONT) reaches it on both."""
    assert kqueue_count(host, "thread") == thread_directed
    assert kqueue_count(host, "process") == 1


def test_every_host_rule_says_how_it_is_known():
    for host in (FREEBSD, MACOS, ILLUMOS):
        assert host.facts and all(f.source for f in host.facts)
    assert not ILLUMOS.kqueue and any(not f.known for f in ILLUMOS.facts)


def test_each_kernels_rules_cite_that_kernel():
    """A rule of macOS is read in XNU (or Apple's manual, or POSIX), one of FreeBSD
    in FreeBSD's sources (or POSIX), never in the other kernel's."""
    for host, own, other in ((FREEBSD, "sys/kern", "XNU"), (MACOS, "XNU", "sys/kern/kern_sig.c:")):
        for fact in host.facts:
            if fact.known:
                assert other not in fact.source, (host.name, fact.rule)
                assert own in fact.source or "POSIX" in fact.source, (host.name, fact.rule)
        assert any(own in line for line in host.explain().splitlines())


def test_the_handler_pops_every_sig_elem_pushed_by_cas():
    """Two cancellers push at once; whatever the interleaving, one run of
    blockif_sigcont_handler pops both and clears both bse_pending."""
    def build():
        bc = BlockifCtxt()
        a, b = bc.sig_elem(2), bc.sig_elem(4, "bse4")
        m = Machine(bc.cells(), cpus=3, memory_model="sc")
        for name, cpu, bse in (("ioemu0", 0, a), ("ioemu1", 1, b)):
            m.add_thread(name, cpu, pusher(bc, bse))
        return m, bc

    def pusher(bc, bse):
        yield ops.store(bse.pending, 1, "blockif_cancel")
        yield from bc.blockif_bse_push(bse)

    from simulator.engine.explore import explore
    result = explore(lambda: build()[0])
    assert result.exhausted and result.found is None
    m, bc = build()
    finish(m)
    assert m.memory.cells[bc.head] in (2, 4)
    m.add_thread("mevent", 2, bc.blockif_sigcont_handler())
    finish(m)
    cells = m.memory.cells
    assert (cells[bc.head], cells["bse.pending"], cells["bse4.pending"]) == (0, 0, 0)


# ----------------------------------------------------------- the report, in time
def timed(variant: str, **params):
    return runs.run(SCENARIO, variant, params, mode="timed", strategy="round-robin")


def first(trace, thread, func, op=None):
    return next(s for s in trace.steps if s["thread"] == thread and s["func"] == func
                and (op is None or s["op"] == op))


def test_on_macos_the_trim_outlives_the_guests_patience_and_the_vm_hangs():
    """fstrim's TRIM takes 35 s; the guest gives up at 30 s and stops the port;
    blockif_cancel sends SIGCONT and waits; at 35 s blkio is done — and stuck."""
    trace = timed("macos")
    # the guest's side is named after Linux's functions: the timer, then the engine stop
    timer = first(trace, "ioemu", "scsi_times_out", "wakeup")
    engine = first(trace, "ioemu", "ahci_stop_engine")
    stop = first(trace, "ioemu", "ahci_port_stop")
    kill = first(trace, "ioemu", "pthread_kill")
    done = first(trace, "blkio", "blockif_proc", "store")
    assert timer["i"] < engine["i"] < stop["i"]
    assert 30 * SECOND <= stop["t_ns"] < kill["t_ns"] < 31 * SECOND
    assert 35 * SECOND <= done["t_ns"] < 36 * SECOND and trace.steps[-1] is done
    assert trace.verdict.kind == "deadlock" and trace.verdict.reason.startswith(CYCLE)
    assert not any(s["func"] == "blockif_sigcont_handler" for s in trace.steps)


@pytest.mark.parametrize("variant, handler", [("freebsd", "mevent"), ("illumos", "blkio.sig")])
def test_elsewhere_the_cancel_polls_until_the_trim_ends(variant, handler):
    """Each round's SIGCONT runs the handler — on the main thread (FreeBSD) or on
    blkio itself (illumos) — and blockif_cancel returns once blkio is done, at 35 s."""
    trace = timed(variant)
    assert trace.verdict.kind == "ok"
    ran = {s["thread"] for s in trace.steps if s["func"] == "blockif_sigcont_handler"}
    assert ran == {handler}
    kills = [s for s in trace.steps if s["func"] == "pthread_kill" and s["op"] == "note"]
    assert len(kills) == 2  # the rounds modelled one by one (polls=2), then the fold
    callback = first(trace, "blkio", "ata_ioreq_cb")
    assert callback["t_ns"] >= 35 * SECOND


def test_a_freebsd_round_costs_about_two_microseconds_of_simulated_time():
    """The chapter's estimate of the rounds the fold stands for (5 s of them, some two
    and a half million) rests on this: one round, SIGCONT to SIGCONT, is ~2 µs."""
    kills = [s["t_ns"] for s in timed("freebsd").steps
             if s["func"] == "pthread_kill" and s["op"] == "note"]
    assert 1_500 <= kills[1] - kills[0] <= 2_500


def test_a_trim_that_beats_the_timeout_needs_no_cancel():
    trace = timed("macos", io_ns=20 * SECOND)
    assert trace.verdict.kind == "ok"
    assert not any(s["func"] == "ahci_port_stop" for s in trace.steps)


def test_a_request_not_yet_started_is_cancelled_without_a_signal():
    """If the timer fires before blkio takes the TRIM, blockif_cancel finds it on
    the pending queue and completes it itself: no SIGCONT, no hang, even on macOS."""
    m = scenarios.get(SCENARIO).machine("macos", tracing=True)
    while m.by_name["ioemu"].op[1] != "scsi_times_out":
        m.step("ioemu")
    m.step("ioemu")
    m.step("fire:scsi.timeout")
    while not m.by_name["ioemu"].done:
        m.step("ioemu")
    finish(m)
    funcs = [(r["thread"], r["func"]) for r in m.records]
    assert m.verdict().kind == "ok"
    assert ("ioemu", "blockif_complete") in funcs and ("ioemu", "pthread_kill") not in funcs
    assert ("blkio", "block_delete") not in funcs


# ---------------------------------------------------------------- the explorer
def test_the_explorer_finds_the_macos_deadlock_and_names_the_cycle():
    found = search(SCENARIO, "macos")
    assert found.found == "deadlock" and found.result.found.preemptions == 0
    verdict = runs.replay(found.counterexample).verdict
    assert verdict.reason.startswith(CYCLE)
    assert "blkio in ata_ioreq_cb: wants mutex sc->mtx, held by ioemu" in verdict.waits


@pytest.mark.parametrize("variant", ["freebsd", "illumos"])
def test_the_explorer_verifies_freebsd_and_illumos_over_every_interleaving(variant):
    result = search(SCENARIO, variant)
    assert result.found is None and result.exhausted, result.summary()


@pytest.mark.parametrize("variant", ["freebsd", "illumos"])
def test_with_one_modelled_round_the_verdict_is_the_same(variant):
    """The fold after ``polls`` rounds bounds the model; the verdict does not move."""
    assert search(SCENARIO, variant, {"polls": 1}).exhausted


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["freebsd", "illumos"])
def test_three_modelled_rounds_verify_too(variant):
    result = search(SCENARIO, variant, {"polls": 3})
    assert result.found is None and result.exhausted


@pytest.mark.parametrize("variant", ["macos", "freebsd", "illumos"])
def test_the_memo_explorer_agrees_with_re_execution_on_this_model(variant):
    """Signal contexts, the kqueue and the folded rounds revive from memos exactly:
    the same verdict, states and schedules as re-running every branch."""
    from simulator.engine.explore import explore

    sc = scenarios.get(SCENARIO)
    params = sc.resolve({"polls": 1})

    def summary(r):
        return (r.label, r.exhausted, r.stats.states, r.stats.schedules,
                r.found and r.found.schedule)

    runs_ = [explore(lambda: sc.machine(variant, params), engine=engine, max_states=15_000,
                     minimise_found=False) for engine in ("replay", "memo")]
    assert summary(runs_[0]) == summary(runs_[1])


def test_random_runs_hang_on_macos_only():
    assert runs.random_search(SCENARIO, "macos", runs=200).verdicts["deadlock"] > 0
    for variant in ("freebsd", "illumos"):
        assert runs.random_search(SCENARIO, variant, runs=200).verdicts["ok"] == 200


def test_the_wait_for_graph_has_blkio_waiting_for_ioemu_and_ioemu_for_mevent():
    found = search(SCENARIO, "macos").counterexample
    m, _ = runs.execute(SCENARIO, "macos", strategy=Replay(found.schedule))
    edges = {e.waiter: e for e in waitfor.edges(m, *m.model["signallers"])}
    assert (edges["ioemu"].resource, edges["ioemu"].holder) == ("bse_cond", "mevent")
    assert (edges["blkio"].resource, edges["blkio"].holder) == ("sc->mtx", "ioemu")
    assert edges["mevent"].holder is None and "macOS" in edges["mevent"].why
    assert set(edges["ioemu"].held) == {"sc->mtx", "bc_mtx"}


def test_a_process_directed_kill_from_outside_would_end_the_macos_hang():
    """Not the scenario's nudge — an operator's ``kill -CONT``: the kqueue hears a
    signal sent to the process, the handler runs, and everything completes."""
    found = search(SCENARIO, "macos").counterexample
    m, _ = runs.execute(SCENARIO, "macos", strategy=Replay(found.schedule))
    assert m.verdict().kind == "deadlock"
    m.add_thread("operator", 3, m.model["process"].kill(SIGCONT))
    assert finish(m).verdict().kind == "ok"


# -------------------------------------------------------------- fixes, good and bad
# Fixes that work without a signal handler are answers to the chapter's exercise:
# they are verified in the instructor's tests (test_grading_keys.py).
def test_the_illumos_fix_is_one_hook():
    changed = {k for k in vars(IllumosBlockif) if not k.startswith("_")}
    assert changed - {"variant_name", "host"} == {"blockif_init"}


class DropBcMtx(HyperkitBlockif):
    """Let go of bc_mtx while waiting — but still wait for a handler that never runs."""

    def blockif_cancel_wait(self, be, bse):
        yield ops.unlock(self.mtx, "blockif_cancel")
        yield from super().blockif_cancel_wait(be, bse)
        yield ops.lock(self.mtx, "blockif_cancel")


def test_dropping_bc_mtx_alone_still_hangs_with_blkio_stuck_on_the_ahci_lock():
    result = search(SCENARIO, DropBcMtx)
    assert result.found == "deadlock"
    assert "blkio waits in ata_ioreq_cb for sc->mtx (held by ioemu)" in \
        result.counterexample.verdict.reason


def test_an_interrupted_trim_is_completed_by_its_callback_not_by_the_port_stop():
    """blockif_cancel answers EBUSY once blkio is DONE; ahci_port_stop leaves that
    command alone, and ata_ioreq_cb clears its PxCI bit after the port stop."""
    trace = timed("freebsd")
    looks = [s["result"] for s in trace.steps
             if s["func"] == "blockif_cancel" and s["detail"] == "be1.status"]
    assert looks[0] == BST_BUSY and looks[-1] == BST_DONE
    assert not any(s["func"] == "ahci_port_stop" and s["op"] == "fetch_and"
                   for s in trace.steps)
    stopped = [s for s in trace.steps if s["thread"] == "ioemu"
               and s["func"] == "pci_ahci_write" and s["op"] == "unlock"][-1]
    assert first(trace, "blkio", "ahci_write_fis_d2h")["i"] > stopped["i"]


# ---------------------------------------------------------------- input checking
def test_its_times_are_shown_in_seconds():
    """The report's 35 s TRIM and 30 s timeout read as such in a figure's header and in
    ``list --json``, not as eleven-digit nanosecond counts."""
    sc = scenarios.get(SCENARIO)
    shown = {p["name"]: p["shown"] for p in sc.describe()["params"]}
    assert shown["io_ns"] == "35 s" and shown["timeout_ns"] == "30 s"
    io = next(p for p in sc.params if p.name == "io_ns")
    assert [io.show(v) for v in (1_500_000, 20_000, 40)] == ["1.5 ms", "20 µs", "40 ns"]


def test_buggy_and_fixed_name_macos_and_illumos():
    sc = scenarios.get(SCENARIO)
    assert (sc.variant_name("buggy"), sc.variant_name("fixed")) == ("macos", "illumos")
    assert runs.run(SCENARIO, "buggy", strategy="round-robin").variant == "macos"


@pytest.mark.parametrize("params", [{"polls": 0}, {"polls": 9}, {"maxreq": 0},
                                    {"io_ns": -1}, {"timeout": 3}])
def test_bad_parameters_are_one_line_errors(params, refused):
    refused(SCENARIO, "macos", params)


def test_an_unknown_variant_is_a_one_line_error_naming_the_three(refused):
    assert "illumos" in refused(SCENARIO, "windows")


def test_the_cli_lists_runs_explores_and_replays_it(run_cli, tmp_path):
    import json

    code, out, _ = run_cli("list", "--json")
    listed = {s["name"]: s for s in json.loads(out)["scenarios"]}[SCENARIO]
    assert code == 0 and set(listed["variants"]) == {"freebsd", "macos", "illumos"}
    code, out, _ = run_cli("run", SCENARIO, "--variant", "freebsd")
    assert code == 0 and out.splitlines()[-1].startswith("# verdict: ok")
    code, out, _ = run_cli("explore", SCENARIO, "--variant", "macos", "--json")
    found = json.loads(out)
    assert code == 0 and found["verdict"] == "deadlock"
    path = tmp_path / "hang.json"
    path.write_text(json.dumps(found["counterexample"]))
    code, out, _ = run_cli("replay", str(path), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "deadlock"
