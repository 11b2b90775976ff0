"""Pictures and toys for the lessons: swimlanes, a stepper, the scheduler game.

- ``timeline(trace)`` draws a trace as swimlanes (a matplotlib Figure);
- ``Stepper(trace)`` walks through it with the state at every step;
- ``SchedulerGame(scenario)`` lets the reader be the scheduler, first on the
  small ``levels`` of each chapter, each thread's code on screen;
- ``figures`` draws the pictures before any trace (the split ring, a store
  buffer, the posted-interrupt descriptor), ``beside`` puts the real C lines
  next to the model step that stands for them, and ``step_line`` / ``show``
  write a step or a value the way the chapters do (hex, vector sets);
- ``wait_for_graph(edges)`` draws who waits for whom at a hang, its cycle
  red (the edges from ``simulator.engine.waitfor`` or a scenario's
  ``wait_edges``).

All three work headless; ``.widget()`` gives the ipywidgets UI in a notebook.
"""
from simulator.viz import figures
from simulator.viz.excerpts import beside
from simulator.viz.game import SchedulerGame, counterexample, trace_of
from simulator.viz.levels import level, levels
from simulator.viz.stepper import Stepper
from simulator.viz.timeline import fatal_step, timeline, windows
from simulator.viz.values import show, step_line
from simulator.viz.waitfor import wait_for_graph

__all__ = ["SchedulerGame", "Stepper", "beside", "counterexample", "fatal_step", "figures",
           "level", "levels", "show", "step_line", "timeline", "trace_of", "wait_for_graph",
           "windows"]
