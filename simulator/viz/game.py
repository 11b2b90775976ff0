"""The scheduler game: you are the scheduler; break the system.

Every enabled action is a move — run a thread for one op, drain one entry of a
CPU's store buffer, fire a timer. You win when the scenario's verdict turns bad
(stuck, deadlock, violation, limit) and lose when the run finishes correctly.
Undo rebuilds the machine and replays every move but the last (the machine is
deterministic, so that is the same state). "Show me" asks the explorer for the
shortest breaking schedule and plays it.

Everything works headless (``actions``, ``choose``, ``undo``, ``status``,
``verdict``, ``show_me``); ``widget()`` wraps it in ipywidgets.
"""
from __future__ import annotations

import html

from simulator import runs, scenarios
from simulator.engine.trace import Trace, format_step
from simulator.engine.verdict import Verdict
from simulator.errors import UsageError
from simulator.viz.state import state_html, state_text, watched_cells
from simulator.viz.timeline import timeline

PLAYING, WON, LOST = "playing", "won", "lost"


def counterexample(scenario: str, variant="buggy", params: dict | None = None, *,
                   memory_model: str | None = None) -> Trace | None:
    """A breaking schedule's trace: the explorer's (fewest preemptions, then
    shortest) when ``simulator.search`` is available, else the first bad run of
    a seeded random search (not necessarily the shortest)."""
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
    """One game on a fresh machine of ``scenario``; the reader picks every action."""

    def __init__(self, scenario: str, variant="buggy", params: dict | None = None, *,
                 memory_model: str | None = None):
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
        self.hint = counterexample(self.scenario.name, self.variant, self.params,
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
        """The moves so far as dtrace-style lines."""
        return [f"[{r['i']:>3}] {format_step(r)}" for r in self.records]

    def trace(self) -> Trace:
        """The game so far as a trace (its schedule replays to the same state)."""
        v = self.verdict or Verdict("limit", "the game is still going (no verdict yet)")
        return Trace(scenario=self.scenario.name, variant=self.scenario.variant_name(self.variant),
                     params=dict(self.params), memory_model=self.memory_model, mode="untimed",
                     strategy="interactive", seed=None, schedule=list(self.schedule),
                     verdict=v, steps=list(self.records))

    def text(self) -> str:
        """The current state as plain text."""
        return state_text(self.machine.snapshot(), self.initial, watched_cells(self.trace()))

    def figure(self):
        """The swimlanes of the game so far (the fatal step marked once it is won)."""
        return timeline(self.trace(), mark_fatal=self.status == WON)

    def banner(self) -> str:
        v = self.verdict
        if v is None:
            return f"Your move ({len(self.schedule)} so far). Break it!"
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
        self._ui = {"moves": w.VBox(), "banner": w.HTML(), "log": w.HTML(), "state": w.HTML()}
        self._refresh()
        ui = self._ui
        return w.VBox([ui["banner"], w.HBox([undo, restart, show]), ui["moves"],
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
        log = "\n".join(self.lines()[-18:])
        ui["log"].value = f"<pre style='font-size:11px;margin:0'>{html.escape(log)}</pre>"
        ui["state"].value = state_html(self.machine.snapshot(), self.initial,
                                       watched_cells(self.trace()))
