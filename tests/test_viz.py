"""The lesson pictures and toys, driven headless: swimlanes, the stepper, the game."""
import io
from dataclasses import replace
from functools import cache
from itertools import pairwise

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from simulator import runs, scenarios
from simulator.errors import UsageError
from simulator.viz import (
    SchedulerGame,
    Stepper,
    counterexample,
    fatal_step,
    figures,
    levels,
    timeline,
    windows,
)
from simulator.viz.excerpts import EXCERPTS, beside
from simulator.viz.levels import LEVELS
from simulator.viz.state import buffer_history, state_text
from simulator.viz.timeline import WINDOW
from simulator.viz.values import step_line

OUTPUT_PX = 1000  # a notebook's output area: pictures must fit it unscaled

matplotlib.use("Agg")
SCENARIOS = scenarios.names()


@cache
def broken(name: str):
    """The explorer's (or a random search's) breaking run of a scenario's buggy variant."""
    return counterexample(name, "buggy")


def layout_problems(fig) -> list[str]:
    """Text that is rotated, falls off the picture, or covers other text in its panel."""
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    problems = []
    for text in fig.findobj(matplotlib.text.Text):
        if not text.get_text() or not text.get_visible():
            continue
        box = text.get_window_extent(renderer)
        if text.get_rotation() != 0:
            problems.append(f"sideways: {text.get_text()!r}")
        if box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1 or box.y0 < page.y0 - 1 \
                or box.y1 > page.y1 + 1:
            problems.append(f"clipped: {text.get_text()!r}")
    for ax in fig.axes:
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1:]:
                w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
                h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
                if w > 1 and h > 1:
                    problems.append(f"overlap: {a!r} / {b!r}")
    return problems


# ------------------------------------------------------------------ the swimlanes
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenarios_counterexample_draws_legibly_in_every_window(name):
    """Each window of the breaking run renders to PNG with horizontal, unclipped,
    non-overlapping text."""
    trace = broken(name)
    assert trace is not None and trace.verdict.bad
    for start in windows(trace):
        fig = timeline(trace, start=start)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue().startswith(b"\x89PNG")
        assert layout_problems(fig) == []


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_lane_label_names_the_real_function(name):
    """Every function a thread ran in the window appears as a label in the lanes."""
    trace = broken(name)
    fig = timeline(trace)
    drawn = "\n".join(t.get_text() for t in fig.axes[0].texts)
    start = round(fig.axes[0].get_xlim()[0] + 0.6)
    for s in trace.steps[start:start + 40]:
        if s["op"] != "drain":
            assert s["func"] in drawn


def test_the_virtio_race_is_marked_at_the_stale_read_of_used_idx():
    """The fatal step is the guest's re-check of used.idx, made while the device's
    new used.idx still sat in the host CPU's store buffer."""
    trace = broken("virtio-barriers")
    step, why = fatal_step(trace)
    s = trace.steps[step]
    assert (s["thread"], s["func"], s["op"], s["detail"]) == (
        "vcpu0", "virtqueue_poll", "load", "used.idx")
    assert "store buffer still held used.idx" in why


def test_a_run_that_ends_well_has_no_fatal_step():
    trace = runs.run("virtio-barriers", "fixed", seed=1)
    assert trace.verdict.kind == "ok"
    assert fatal_step(trace) == (None, "")
    timeline(trace, start=0, width=20)


def test_each_buffered_store_reaches_memory_in_order():
    """Store buffers are FIFO: per CPU, stores leave in the order they entered."""
    stays, _ = buffer_history(broken("virtio-barriers"))
    assert stays
    for cpu in {b.cpu for b in stays}:
        mine = [b for b in stays if b.cpu == cpu and b.left is not None]
        assert [b.stored for b in sorted(mine, key=lambda b: (b.left, b.stored))] == \
            sorted(b.stored for b in mine)


def test_a_long_trace_is_windowed_and_a_bad_window_is_a_usage_error():
    trace = broken("virtio-barriers")
    assert len(trace.steps) > 60
    fig = timeline(trace, start=0)
    lo, hi = fig.axes[0].get_xlim()
    assert round(hi - lo) == WINDOW
    assert fig.get_size_inches()[0] * fig.dpi <= OUTPUT_PX
    with pytest.raises(UsageError):
        timeline(trace, start=len(trace.steps))
    with pytest.raises(UsageError):
        timeline(trace, fatal=-1)


# ------------------------------------------------------------------ the stepper
def test_the_stepper_shows_what_each_cpu_saw_at_the_fatal_step():
    """At the fatal step, memory says used.idx=1 — and so does the guest's CPU —
    while the device's CPU already sees 2 in its own store buffer."""
    trace = broken("virtio-barriers")
    step, _ = fatal_step(trace)
    stepper = Stepper(trace)
    stepper.jump(step + 1)
    snap = stepper.state()
    assert snap["memory"]["used.idx"] == 1
    assert snap["views"]["cpu1"]["used.idx"] == 2
    assert ("used.idx", 2) in snap["store_buffers"]["cpu1"]
    assert stepper.line().endswith(step_line(trace.steps[step], timed=False))
    assert "used.idx" in stepper.text()


def test_the_stepper_moves_forward_back_and_stays_within_the_trace():
    trace = broken("virtio-barriers")
    stepper = Stepper(trace)
    assert stepper.index == 0 and stepper.line() == trace.header()
    assert stepper.back() == 0
    assert stepper.forward() == 1 and stepper.forward() == 2
    assert stepper.back() == 1
    assert stepper.jump(stepper.last) == len(trace.schedule)
    assert stepper.forward() == stepper.last
    assert stepper.state()["threads"]["vcpu0"].startswith("blocked")
    with pytest.raises(UsageError):
        stepper.jump(stepper.last + 1)


def test_the_stepper_state_is_the_replayed_machine_state():
    """Position k is the machine after the first k actions of the schedule."""
    trace = broken("virtio-barriers")
    stepper = Stepper(trace)
    k = len(trace.schedule) // 2
    m = scenarios.get(trace.scenario).machine(trace.variant, trace.params)
    for action in trace.schedule[:k]:
        m.step(action)
    stepper.jump(k)
    assert stepper.state() == m.snapshot()


def test_the_stepper_widget_follows_the_buttons():
    stepper = Stepper(broken("virtio-barriers"))
    ui = stepper.widget()
    buttons = ui.children[0].children[:4]
    assert [b.icon for b in buttons] == ["fast-backward", "step-backward", "step-forward",
                                         "fast-forward"]
    assert all(b.description == "" for b in buttons)  # icons, not glyphs a font may lack
    forward = buttons[2]
    forward.click()
    forward.click()
    assert stepper.index == 2
    assert "<img" in ui.children[2].value
    assert step_line(stepper.step()).split()[-1] in ui.children[1].value
    fig = stepper.figure()
    assert fig.axes


# ------------------------------------------------------------------ the game
def test_playing_the_explorers_schedule_wins_the_game():
    trace = broken("virtio-barriers")
    game = SchedulerGame("virtio-barriers")
    for action in trace.schedule:
        assert game.status == "playing"
        game.choose(action)
    assert game.status == "won" and game.verdict.kind == trace.verdict.kind
    assert game.banner().startswith("You win")
    with pytest.raises(UsageError):
        game.choose(game.schedule[0])


def test_a_polite_scheduler_loses():
    """Always running the first enabled action lets every request complete."""
    game = SchedulerGame("virtio-barriers")
    while game.status == "playing":
        game.choose(game.actions()[0])
    assert game.status == "lost" and game.verdict.kind == "ok"


def test_undo_takes_back_exactly_one_move():
    game = SchedulerGame("virtio-barriers")
    first = game.actions()
    game.choose(first[0])
    after_one = (game.actions(), game.machine.fingerprint())
    game.choose(game.actions()[0])
    game.undo()
    assert (game.actions(), game.machine.fingerprint()) == after_one
    game.undo()
    assert game.actions() == first and game.schedule == []
    game.undo()  # nothing left to undo: no change
    with pytest.raises(UsageError):
        game.choose("drain:cpu7")


def test_show_me_plays_the_shortest_breaking_schedule():
    game = SchedulerGame("virtio-barriers")
    hint = game.show_me()
    assert game.status == "won" and game.schedule == hint.schedule
    game.undo()
    assert game.status == "playing"


def test_the_game_widget_offers_one_button_per_move():
    game = SchedulerGame("virtio-barriers")
    ui = game.widget()
    moves = ui.children[2]
    assert len(moves.children) == len(game.actions())
    moves.children[0].click()
    assert len(game.schedule) == 1
    assert len(ui.children[2].children) == len(game.actions())
    assert "Break it" in ui.children[0].value


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_can_be_played_and_won(name):
    trace = broken(name)
    game = SchedulerGame(name)
    for action in trace.schedule:
        game.choose(action)
    assert game.status == "won"
    assert state_text(game.machine.snapshot())


def test_the_stepper_widget_starts_at_the_initial_state_and_looking_does_not_move_it():
    """After Run All a stepper shows step 0; a later cell that asks about another
    position (line(k), text(k)) leaves the widget where it is."""
    trace = broken("virtio-barriers")
    stepper = Stepper(trace)
    stepper.jump(5)
    ui = stepper.widget()
    assert stepper.index == 0 and ui.children[0].children[4].value == 0
    fatal, _ = fatal_step(trace)
    assert stepper.line(fatal + 1).endswith("virtqueue_poll:load(used.idx) = 1")
    assert "used.idx" in stepper.text(fatal + 1)
    assert stepper.index == 0 and ui.children[0].children[4].value == 0


def test_the_stepper_picture_follows_the_cursor_and_fits_the_output():
    """At every position the step just taken is drawn, away from the picture's
    edges unless the trace ends there, the lane names are on the picture, and
    the picture is at most 1000 pixels wide."""
    trace = broken("virtio-barriers")
    stepper = Stepper(trace)
    n = len(trace.steps)
    for position in range(1, stepper.last + 1):
        start = stepper.window_for(position)
        k = position - 1
        assert start <= k < start + stepper.width
        if start > 0:
            assert k - start >= 4
        if start + stepper.width < n:
            assert start + stepper.width - 1 - k >= 4
    fig = stepper.figure()
    assert fig.get_size_inches()[0] * fig.dpi <= OUTPUT_PX
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "vcpu0 · cpu0" in labels and "blkio · cpu1" in labels


@pytest.mark.parametrize("name", SCENARIOS)
def test_one_fatal_step_per_trace_in_the_timeline_and_the_stepper(name):
    trace = broken(name)
    fatal, why = fatal_step(trace)
    assert Stepper(trace).fatal == fatal
    fig = timeline(trace)
    red = [t.get_text() for t in fig.texts if t.get_color() == "#d62728"]
    assert red and red[0].startswith(f"fatal step {fatal}")


def test_the_pir_race_is_marked_at_the_post_that_notified_nobody():
    trace = broken("pir-wakeup")
    step, why = fatal_step(trace)
    s = trace.steps[step]
    assert (s["thread"], s["func"], s["op"]) == ("cyclic", "vmx_set_intr_ready", "cas")
    assert s["result"] & 1  # ON was already set: no notification


def test_vectors_priorities_and_pir_words_are_written_in_hex():
    trace = broken("pir-wakeup")
    fig = timeline(trace, start=0)
    drawn = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "0x70" in drawn and "{0x60}" in drawn and "FROZEN" in drawn
    assert "4294967296" not in drawn and "112" not in drawn
    assert "tpr=0x70" in " ".join(t.get_text() for t in fig.texts)
    text = Stepper(trace).text(len(trace.schedule))
    assert "0x70" in text and "{0xd3}" in text and "SLEEPING" in text


def test_under_sc_the_state_is_memory_alone_and_under_tso_each_cpus_view_too():
    """Under SC every CPU sees memory itself: no per-CPU columns, no empty store
    buffers to read past. Under TSO the columns stay, empty buffers included."""
    sc = Stepper(broken("blockif-cancel"))
    end = sc.text(sc.last)
    assert "be1.status" in end and "DONE" in end
    assert "sees" not in end and "store buffer" not in end
    game = SchedulerGame("blockif-cancel", "macos")
    assert "sees" not in game.text() and "store buffer" not in game.text()
    tso = Stepper(broken("virtio-barriers")).text(0)
    assert "cpu0 sees" in tso and "store buffer cpu1 (oldest first): empty" in tso


def test_a_halt_is_written_for_the_cell_it_waits_on():
    """blockif_cancel's folded rounds wait for be1.status to leave BUSY: by name."""
    poll = runs.run("blockif-cancel", "freebsd", mode="timed", seed=94)
    halt = next(s for s in poll.steps if s["op"] == "halt")
    assert step_line(halt, timed=False).endswith("halt(be1.status != BUSY) = DONE")


def test_untimed_lines_have_no_time_column_and_timed_ones_do():
    untimed = Stepper(broken("virtio-barriers"))
    assert untimed.line(1).split("] ", 1)[1].split()[0] == "vcpu0"
    timed = Stepper(runs.run("virtio-barriers", "buggy", seed=1, mode="timed"))
    assert timed.line(1).split("] ", 1)[1].split()[0].isdigit()
    fig = timeline(broken("virtio-barriers"))
    assert fig.axes[-1].get_xlabel() == "step"


# ------------------------------------------------------------------ the levels
@pytest.mark.parametrize("key", list(LEVELS))
def test_each_level_is_won_in_a_handful_of_moves_and_its_fix_cannot_be(key):
    lv = LEVELS[key]
    game = SchedulerGame(lv)
    hint = game.show_me()
    assert game.status == "won" and len(hint.schedule) <= 12
    assert lv.goal in SchedulerGame(lv).banner()
    assert SchedulerGame(lv, "fixed").show_me() is None


def test_a_level_shows_each_threads_code_with_the_line_it_runs_next():
    game = SchedulerGame(LEVELS["lost-update"])
    before = {p.thread: p.current for p in game.places()}
    assert all("ops.load" in line for line in before.values())
    game.choose("t0")
    after = {p.thread: p.current for p in game.places()}
    assert "ops.store" in after["t0"] and "ops.load" in after["t1"]
    game.choose("t0")
    assert game.places()[0].line is None  # t0 finished
    assert "→" in game.source_text() and "t0: finished" in game.source_text()


def test_the_game_widget_shows_the_code_beside_the_moves():
    game = SchedulerGame(LEVELS["summary-bit"])
    ui = game.widget()
    code = ui.children[3].value
    assert "vm_handle_hlt" in code and "background:#ffe08a" in code
    ui.children[2].children[0].click()
    assert len(game.schedule) == 1


def test_levels_are_listed_by_chapter():
    assert [lv.key for lv in levels(0)] == ["lost-update"]
    assert [lv.chapter for lv in levels()] == sorted(lv.chapter for lv in levels())


# ------------------------------------------------------------------ figures and excerpts
@pytest.mark.parametrize("draw", [figures.ring_layout, figures.store_buffer,
                                  figures.posted_descriptor])
def test_the_explanatory_figures_fit_the_output_and_nothing_is_clipped(draw):
    fig = draw()
    assert fig.get_size_inches()[0] * fig.dpi <= OUTPUT_PX
    assert [p for p in layout_problems(fig) if not p.startswith("overlap")] == []


def test_the_ring_figure_shows_the_cells_it_is_given():
    from simulator.models.virtio import SplitRing

    cells = SplitRing(4).cells() | {"used.idx": 7, "avail.flags": 1}
    drawn = " ".join(t.get_text() for t in figures.ring_layout(4, cells).axes[0].texts)
    assert "idx\n7" in drawn and "flags\n1" in drawn


@pytest.mark.parametrize("func", list(EXCERPTS))
def test_each_excerpt_sits_beside_a_model_step_of_the_same_name(func):
    """The real lines are short, cite their file and commit, and the model code
    beside them performs ops named after the same function."""
    e = EXCERPTS[func]
    assert 1 <= len(e.lines) <= 6
    assert any(source in e.where
               for source in ("illumos-joyent", "illumos-gate", "Linux", "hyperkit"))
    assert f'"{func}"' in e.model_source()
    assert func in repr(beside(func)) and "<pre" in beside(func)._repr_html_()


def test_beside_keeps_each_line_of_the_models_code_whole():
    """A wrapped Python line reads as two: the model's column scrolls sideways
    instead (the short C quotation may wrap)."""
    import re

    page = beside("vmm_lease_block")._repr_html_()
    real, model = re.findall(r"<pre style='([^']*)'>", page)
    assert "white-space:pre;" in model and "overflow-x:auto" in model
    assert "pre-wrap" in real


# ------------------------------------------------------------------ the wait-for graph
def _hang(name: str, variant: str, params: dict | None = None):
    """The machine at the end of the explorer's breaking run."""
    from simulator.search import search

    m = scenarios.get(name).machine(variant, params)
    m.replay(search(name, variant, params).counterexample.schedule)
    return m


def _chapter_waits(case: str):
    from simulator.engine import waitfor
    from simulator.scenarios import lease_livelock, write_lock_rendezvous

    if case == "blockif":
        m = _hang("blockif-cancel", "macos")
        return waitfor.edges(m, *m.model["signallers"])
    if case == "lost-wakeup":
        return lease_livelock.wait_edges(_hang("lease-livelock", "buggy", {"rx": 1}))
    if case == "ab-ba":
        return waitfor.edges(_hang("lease-livelock", "naive-fix", {"tx": "awake"}))
    return write_lock_rendezvous.wait_edges(_hang("write-lock-rendezvous", "buggy"))


@pytest.mark.parametrize("case", ["blockif", "lost-wakeup", "ab-ba", "rendezvous"])
def test_each_chapters_wait_for_graph_fits_the_output_and_no_words_collide(case):
    from simulator.viz import wait_for_graph

    fig = wait_for_graph(_chapter_waits(case), case)
    assert fig.get_size_inches()[0] * fig.dpi <= OUTPUT_PX
    # arrows are annotations with no words: only words may not collide
    assert [p for p in layout_problems(fig) if "''" not in p] == []


def test_a_chain_of_waits_ends_in_a_dead_end_whose_reason_is_red_and_no_arrow_is():
    """hyperkit on macOS: no cycle, so no red arrow; what makes it hang is the
    kqueue nobody posts to, said in red beside it; ioemu shows what it holds."""
    from matplotlib.colors import to_rgba

    from simulator.viz import wait_for_graph
    from simulator.viz.waitfor import CYCLE

    fig = wait_for_graph(_chapter_waits("blockif"))
    texts = fig.axes[0].texts
    arrows = [t.arrow_patch.get_edgecolor() for t in texts
              if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 5 and to_rgba(CYCLE) not in arrows
    red = [t.get_text() for t in texts if t.get_color() == CYCLE]
    assert len(red) == 1 and red[0].startswith("no SIGCONT reaches the kqueue")
    assert "in blockif_cancel\nholds bc_mtx, sc->mtx" in [t.get_text() for t in texts]


def test_a_long_verdict_keeps_its_why_in_the_header_or_says_it_was_cut():
    """blockif-cancel's verdict ends with why the kqueue stays silent: the header shows
    it whole. A verdict too long even for three lines ends in "…", never mid-thought."""
    cx = broken("blockif-cancel")
    header = " ".join(t.get_text() for t in timeline(cx).texts)
    assert cx.verdict.reason.split()[-1] in header and "…" not in header
    longer = replace(cx, verdict=replace(cx.verdict, reason=cx.verdict.reason * 4))
    lines = [t.get_text() for t in timeline(longer).texts]
    verdict = next(k for k, line in enumerate(lines) if line.startswith("verdict:"))
    assert lines[verdict + 2].endswith(" …") and lines[verdict + 3].startswith("fatal step")


def test_lane_names_never_overlap_even_where_a_lane_is_empty():
    """At the start of blockif-cancel's run mevent has not moved yet: its lane is empty,
    and its name still sits clear of blkio's."""
    for name in ("blockif-cancel", *SCENARIOS):
        fig = timeline(broken(name), start=0)
        renderer = FigureCanvasAgg(fig).get_renderer()
        boxes = sorted((t.get_window_extent(renderer) for t in fig.axes[0].get_yticklabels()),
                       key=lambda b: b.y0)
        for low, high in pairwise(boxes):
            assert low.y1 <= high.y0 + 0.5, name


def test_a_sleep_and_its_timer_read_in_seconds_not_in_eleven_digits():
    """blockif-cancel's guest sleeps 30 s and its TRIM 35 s: the lines say so. Short
    waits keep their ns."""
    trace = runs.run("blockif-cancel", "macos", mode="timed", seed=94)
    lines = [step_line(s, timed=False) for s in trace.steps if s["op"] in ("sleep", "wakeup")]
    assert "scsi_times_out:sleep(30 s)" in lines[0]
    assert any("timer io.be1 (35 s) fired" in line for line in lines)
    assert not any("000000 ns" in line for line in lines)
    assert step_line({"thread": "t", "cpu": 0, "func": "f", "op": "sleep",
                      "detail": "100 ns"}, timed=False).endswith("f:sleep(100 ns)")


def test_the_steppers_header_writes_durations_as_the_timeline_does():
    """blockif-cancel declares io_ns and its kin as durations: the stepper's first
    line says ``35 s`` like the timeline's header, not eleven digits; the trace's
    own text keeps the raw value."""
    trace = runs.run("blockif-cancel", "macos", mode="timed", seed=94)
    line = Stepper(trace).line(0)
    assert "io_ns=35 s" in line and "35000000000" not in line
    assert "io_ns=35000000000" in trace.header()
    assert line.startswith(f"# blockif-cancel variant={trace.variant} ")
    title = timeline(trace).texts[0].get_text()
    assert "io_ns=35 s" in title


def _docstring_lines(lines) -> set[str]:
    """The stripped lines of a function's docstring, found by its quotes."""
    q = '"' * 3
    start = next((j for j, t in enumerate(lines) if t.strip().startswith(q)), None)
    if start is None:
        return set()
    end = next(j for j in range(start, len(lines))
               if lines[j].rstrip().endswith(q) and (j > start or len(lines[j].strip()) > 3))
    return {t.strip() for t in lines[start:end + 1]} - {""}


def test_the_games_code_panel_starts_at_the_def_line_never_inside_a_docstring():
    """Along the explorer's breaking run of lease-livelock, every thread's cut view
    (HTML panel and text) begins with its function's ``def`` line and shows no
    line of a docstring: viona_worker's three-line docstring sits right above
    its wait loop."""
    import html as _html
    import re

    from simulator.viz.source import place_html, place_text

    game = SchedulerGame("lease-livelock")
    game.show_me()
    moves = list(game.schedule)
    game.restart()
    seen = set()
    for move in [*moves, None]:
        for p in game.places():
            if p.line is None:
                continue
            doc = _docstring_lines(p.lines)
            pre = place_html(p, whole=False).split("<pre", 1)[1]
            rows = re.findall(r"<span[^>]*>(.*?)</span>", pre)
            rows = [_html.unescape(r)[2:] for r in rows]
            assert rows[0].startswith(("def ", "@")), (p.func, rows[:2])
            assert not doc & {r.strip() for r in rows}, (p.func, rows)
            text = place_text(p).splitlines()
            assert "def " in text[1] and not any(d in t for d in doc for t in text), p.func
            seen.add((p.func, bool(doc)))
        if move is not None:
            game.choose(move)
    assert ("viona_worker", True) in seen  # the case that showed a docstring's tail


def _drawn_extent(fig):
    """The pixels a wait-for graph's drawing covers (boxes, notes, arrows, labels)
    and the title's box."""
    from matplotlib.transforms import Bbox

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    parts = []
    for t in fig.axes[0].texts:
        parts.append(t.get_window_extent(renderer))
        if t.get_bbox_patch() is not None:
            parts.append(t.get_bbox_patch().get_window_extent(renderer))
        if getattr(t, "arrow_patch", None) is not None:
            parts.append(t.arrow_patch.get_window_extent(renderer))
    drawn = Bbox.union([b for b in parts if b.width > 0 and b.height > 0])
    return drawn, fig.texts[0].get_window_extent(renderer)


@pytest.mark.parametrize("case", ["blockif", "lost-wakeup", "ab-ba", "rendezvous", "by hand"])
def test_a_wait_for_graph_is_as_big_as_its_drawing_and_cuts_nothing(case):
    """No wide white margins: the picture holds the drawing plus a thin border
    (the title's width may set the picture's) and cuts no box, note or label."""
    from simulator.engine import waitfor
    from simulator.viz import wait_for_graph

    edges = [waitfor.Edge("worker", "vmm_lease_lock", holder="write locker", held=("vr_lock",)),
             waitfor.Edge("write locker", "vr_lock", holder="worker", held=("vmm_lease_lock",))
             ] if case == "by hand" else _chapter_waits(case)
    fig = wait_for_graph(edges, "the naive fix: vr_lock and vmm_lease_lock taken in "
                         "opposite orders" if case == "by hand" else case)
    drawn, title = _drawn_extent(fig)
    page, border = fig.bbox, 0.25 * fig.dpi
    assert page.x0 <= drawn.x0 and drawn.x1 <= page.x1 and page.y0 <= drawn.y0, case
    assert drawn.y1 <= title.y0 and title.y1 <= page.y1, case
    assert page.width <= max(drawn.width, title.width) + 2 * border, (case, page, drawn)
    assert drawn.y0 - page.y0 <= border and title.y0 - drawn.y1 <= 2 * border, (case, drawn)


@pytest.mark.parametrize("func", list(EXCERPTS))
def test_beside_wraps_the_models_docstrings_and_comments_but_never_its_code(func):
    """The model's column scrolls sideways only for a long line of code: its
    docstrings and comments come refilled at PROSE characters, words and code
    unchanged."""
    import ast
    import importlib
    import inspect
    import re
    import textwrap

    from simulator.viz.excerpts import PROSE

    e = EXCERPTS[func]
    module, _, quals = e.model.partition(":")
    raw = []
    for qual in quals.split(","):
        obj = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        raw.append(textwrap.dedent(inspect.getsource(obj)).rstrip())
    raw = "\n\n".join(raw)
    shown = e.model_source()
    assert sorted(re.sub(r"[\s#]", "", shown)) == sorted(re.sub(r"[\s#]", "", raw))
    doc = set()  # the docstrings' lines in the source
    for node in ast.walk(ast.parse(raw)):
        if isinstance(node, ast.FunctionDef) and isinstance(node.body[0], ast.Expr) and \
                isinstance(node.body[0].value, ast.Constant):
            doc.update(range(node.body[0].lineno - 1, node.body[0].end_lineno))
    code = [line.split("  #")[0].rstrip() for i, line in enumerate(raw.splitlines())
            if i not in doc and line.strip() and not line.lstrip().startswith("#")]
    shown_code = [line.split("  #")[0].rstrip() for line in shown.splitlines()]
    assert [c for c in shown_code if c in code] == code  # every line of code, whole, in order
    for line in shown.splitlines():
        assert len(line) <= PROSE or line in code, line  # only code may be longer
