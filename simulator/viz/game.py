"""The scheduler game: you are the scheduler; break the system.

Every enabled action is a move — run a thread for one op, drain one entry of a
CPU's store buffer, fire a timer. You win when the scenario's verdict turns bad
(stuck, deadlock, violation, limit) and lose when the run finishes correctly.
Undo rebuilds the machine and replays every move but the last (the machine is
deterministic, so that is the same state). "Show me" asks the explorer for the
shortest breaking schedule and plays it.

The game takes a registered scenario by name (the chapter's full race) or a
small level (``simulator.viz.levels``): a toy race of a handful of moves,
played first. Beside the moves it shows every thread's code with the line it
will run next marked (``places``), as The Deadlock Empire does.

Everything works headless (``actions``, ``choose``, ``undo``, ``status``,
``verdict``, ``show_me``, ``places``); ``widget()`` wraps it in ipywidgets.
"""
from __future__ import annotations

import html

from simulator import runs, scenarios
from simulator.engine.explore import explore
from simulator.engine.memory import TsoMemory
from simulator.engine.trace import Trace
from simulator.engine.verdict import Verdict
from simulator.errors import UsageError
from simulator.scenarios.base import Scenario
from simulator.viz.levels import Level
from simulator.viz.source import Place, place, place_html, place_text
from simulator.viz.state import state_html, state_text, watched_cells
from simulator.viz.timeline import timeline
from simulator.viz.values import step_line

PLAYING, WON, LOST = "playing", "won", "lost"


def trace_of(factory, schedule: list[str], scenario: str, variant: str = "buggy",
             params: dict | None = None) -> Trace:
    """Replay ``schedule`` on ``factory()`` (a machine a notebook built itself)
    with tracing on, and return the run as a trace the pictures can draw."""
    m = factory()
    m.tracing = True
    for action in schedule:
        m.step(action)
    v = m.verdict() or Verdict("limit", "the run had not ended (no verdict yet)")
    return Trace(scenario=scenario, variant=variant, params=dict(params or {}),
                 memory_model="tso" if isinstance(m.memory, TsoMemory) else "sc",
                 mode="untimed", strategy="replay", seed=None, schedule=list(schedule),
                 verdict=v, steps=m.records)


def toy_counterexample(sc: Scenario, variant="buggy", params: dict | None = None, *,
                       memory_model: str | None = None) -> Trace | None:
    """The explorer's breaking schedule for a scenario object that is not in the
    registry (a level's toy), as a trace."""
    resolved = sc.resolve(params)

    def factory(tracing: bool = False):
        return sc.machine(variant, resolved, memory_model=memory_model, tracing=tracing)

    found = explore(factory).found
    if found is None:
        return None
    trace = trace_of(factory, found.schedule, sc.name, sc.variant_name(variant), resolved)
    trace.strategy, trace.seed = "explore-dfs", 0
    return trace


def counterexample(scenario: str | Scenario, variant="buggy", params: dict | None = None, *,
                   memory_model: str | None = None) -> Trace | None:
    """A breaking schedule's trace: the explorer's (fewest preemptions, then
    shortest) when ``simulator.search`` is available, else the first bad run of
    a seeded random search (not necessarily the shortest). ``scenario`` may also
    be a scenario object outside the registry (a level's toy)."""
    if isinstance(scenario, Scenario):
        if scenario.name not in scenarios.names():
            return toy_counterexample(scenario, variant, params, memory_model=memory_model)
        scenario = scenario.name
    try:
        from simulator.search import search
    except ImportError:
        search = None
    if search is not None:
        found = search(scenario, variant, params, memory_model=memory_model)
        return found.counterexample
    return runs.random_search(scenario, variant, params, runs=5000,
                              memory_model=memory_model).counterexample


class SchedulerGame:
    """One game on a fresh machine of ``scenario`` (a registered name, or a
    ``Level``); the reader picks every action."""

    def __init__(self, scenario: str | Level | Scenario, variant="buggy",
                 params: dict | None = None, *, memory_model: str | None = None):
        self.level = scenario if isinstance(scenario, Level) else None
        if self.level is not None:
            self.scenario = self.level.scenario
        elif isinstance(scenario, Scenario):
            self.scenario = scenario
        else:
            self.scenario = scenarios.get(scenario)
        self.variant = variant
        self.params = self.scenario.resolve(params)
        self.memory_model = memory_model or self.scenario.memory_model
        self.schedule: list[str] = []
        self.machine = self._fresh()
        self.records: list[dict] = []
        self.initial = dict(self.machine.memory.cells)
        self.hint: Trace | None = None
        self.note = ""
        self._ui: dict | None = None

    def _fresh(self):
        return self.scenario.machine(self.variant, self.params, memory_model=self.memory_model,
                                     tracing=True)

    # ---- the rules ---------------------------------------------------------
    @property
    def verdict(self) -> Verdict | None:
        """How the run ended, or None while it goes on."""
        return self.machine.verdict()

    @property
    def status(self) -> str:
        """'playing', 'won' (the system broke) or 'lost' (it finished correctly)."""
        v = self.verdict
        if v is None:
            return PLAYING
        return WON if v.bad else LOST

    def actions(self) -> list[str]:
        """The moves possible now (none once the game is over)."""
        return self.machine.enabled()

    def describe(self, action: str) -> str:
        """What a move would do, in a few words: the thread's next function and op,
        the store a drain would publish, the timer that would fire."""
        m = self.machine
        if action.startswith("drain:"):
            buf = m.memory.buffer(int(action[len("drain:cpu"):]))
            return f"{action}: {buf[0][0]} = {buf[0][1]} reaches memory" if buf else action
        if action.startswith("fire:"):
            return f"{action[5:]} fires"
        kind, func, a, b = m.by_name[action].op[:4]
        if kind == "store":
            what = f"store {a} := {b}"
        elif kind == "cv_reacquire":
            what = f"re-take {b} after {a}"
        else:
            what = f"{kind} {a}" if isinstance(a, str) else kind
        return f"{action}: {func} {what}"

    def choose(self, action: str) -> dict:
        """Make one move; returns its step record."""
        if self.status != PLAYING:
            raise UsageError(f"the game is over ({self.status}); undo or start again")
        if action not in self.actions():
            raise UsageError(f"{action!r} is not possible now "
                             f"(possible: {', '.join(self.actions())})")
        rec = self.machine.step(action)
        self.schedule.append(action)
        self.records.append(rec)
        self._refresh()
        return rec

    def undo(self) -> None:
        """Take back the last move: rebuild the machine and replay the others."""
        if not self.schedule:
            return
        self._play(self.schedule[:-1])

    def restart(self) -> None:
        """Back to the initial state."""
        self._play([])

    def _play(self, schedule: list[str]) -> None:
        self.machine, self.schedule, self.records = self._fresh(), [], []
        for action in schedule:
            self.records.append(self.machine.step(action))
            self.schedule.append(action)
        self._refresh()

    def show_me(self, play: bool = True) -> Trace | None:
        """Ask the explorer for the shortest breaking schedule; with ``play``, the
        game restarts and plays it (undo then walks back through it)."""
        self.hint = counterexample(self.scenario, self.variant, self.params,
                                   memory_model=self.memory_model)
        if self.hint is None:
            self.note = "The explorer found no breaking schedule for this variant."
        else:
            self.note = (f"The explorer's breaking schedule: {len(self.hint.schedule)} moves, "
                         f"ending {self.hint.verdict.kind}.")
        if self.hint is not None and play:
            self._play(list(self.hint.schedule))
        else:
            self._refresh()
        return self.hint

    # ---- what is shown -----------------------------------------------------
    def lines(self) -> list[str]:
        """The moves so far as dtrace-style lines (no time column: the game has no clock)."""
        return [f"[{r['i']:>3}] {step_line(r, timed=False)}" for r in self.records]

    def places(self) -> list[Place]:
        """Every thread's place in its code: the function it is in and the line
        it runs next (the op its next move performs)."""
        return [place(t) for t in self.machine.threads]

    def source_text(self) -> str:
        """Each thread's code around its current line, marked ``→``."""
        return "\n\n".join(place_text(p) for p in self.places())

    def trace(self) -> Trace:
        """The game so far as a trace (its schedule replays to the same state)."""
        v = self.verdict or Verdict("limit", "the game is still going (no verdict yet)")
        return Trace(scenario=self.scenario.name, variant=self.scenario.variant_name(self.variant),
                     params=dict(self.params), memory_model=self.memory_model, mode="untimed",
                     strategy="interactive", seed=None, schedule=list(self.schedule),
                     verdict=v, steps=list(self.records))

    def cells(self) -> list[str]:
        """The cells the state table shows: all of a small machine's (a level's),
        else the scenario's watched ones."""
        memory = self.machine.memory.cells
        return list(memory) if len(memory) <= 8 else watched_cells(self.trace())

    def text(self) -> str:
        """The current state as plain text."""
        return state_text(self.machine.snapshot(), self.initial, self.cells())

    def figure(self):
        """The swimlanes of the game so far (the fatal step marked once it is won)."""
        return timeline(self.trace(), mark_fatal=self.status == WON)

    def banner(self) -> str:
        v = self.verdict
        if v is None:
            goal = self.level.goal if self.level is not None else "Break it!"
            return f"Your move ({len(self.schedule)} so far). {goal}"
        if v.bad:
            return f"You win: the system broke — {v.kind}: {v.reason}"
        return f"You lose: the run finished correctly — {v.reason or 'ok'}"

    # ---- the widget --------------------------------------------------------
    def widget(self):
        """The ipywidgets UI: a button per possible move, undo, show me, the
        banner, the log of dtrace lines and the state."""
        import ipywidgets as w

        undo = w.Button(description="undo", icon="undo")
        undo.on_click(lambda _: self.undo())
        restart = w.Button(description="restart")
        restart.on_click(lambda _: self.restart())
        show = w.Button(description="show me", tooltip="the explorer's shortest breaking run")
        show.on_click(lambda _: self.show_me())
        self._ui = {"moves": w.VBox(), "banner": w.HTML(), "log": w.HTML(), "state": w.HTML(),
                    "code": w.HTML()}
        self._refresh()
        ui = self._ui
        return w.VBox([ui["banner"], w.HBox([undo, restart, show]), ui["moves"], ui["code"],
                       w.HBox([ui["log"], ui["state"]])])

    def _refresh(self) -> None:
        if self._ui is None:
            return
        import ipywidgets as w

        ui = self._ui
        buttons = []
        for action in self.actions():
            b = w.Button(description=self.describe(action), layout=w.Layout(width="auto"))
            b.on_click(lambda _, a=action: self.choose(a))
            buttons.append(b)
        ui["moves"].children = buttons
        color = {PLAYING: "#333", WON: "#1a7f37", LOST: "#c00"}[self.status]
        note = f"<br><i>{html.escape(self.note)}</i>" if self.note else ""
        ui["banner"].value = (f"<b style='color:{color};font-size:14px'>"
                              f"{html.escape(self.banner())}</b>{note}")
        whole = self.level is not None  # a toy's functions are short: show them whole
        ui["code"].value = ("<div style='display:flex;flex-wrap:wrap'>" +
                            "".join(place_html(p, whole=whole) for p in self.places()) +
                            "</div>")
        log = "\n".join(self.lines()[-18:])
        ui["log"].value = f"<pre style='font-size:11px;margin:0'>{html.escape(log)}</pre>"
        ui["state"].value = state_html(self.machine.snapshot(), self.initial,
                                       self.cells())
