"""Pictures and toys for the lessons: swimlanes, a stepper, the scheduler game.

- ``timeline(trace)`` draws a trace as swimlanes (a matplotlib Figure);
- ``Stepper(trace)`` walks through it with the state at every step;
- ``SchedulerGame(scenario)`` lets the reader be the scheduler;
- ``wait_for_graph(edges)`` draws who waits for whom at a hang.

All three work headless; ``.widget()`` gives the ipywidgets UI in a notebook.
"""
from simulator.viz.game import SchedulerGame, counterexample
from simulator.viz.stepper import Stepper
from simulator.viz.timeline import fatal_step, timeline, windows
from simulator.viz.waitfor import wait_for_graph

__all__ = ["SchedulerGame", "Stepper", "counterexample", "fatal_step", "timeline",
           "wait_for_graph", "windows"]
