"""The Machine: threads of ops over memory, locks and timers, one action at a time.

An *action* is a short string naming one thing that can happen next:

- ``"vcpu0"``          run thread vcpu0 for one op;
- ``"drain:cpu1"``     move the oldest store in CPU 1's store buffer to memory;
- ``"fire:blkio.io"``  a timer fires (an I/O completes, a timeout expires) and
                       wakes the thread sleeping on it;
- ``"nudge"``          the scenario's external nudge (an NMI, a signal, a later
                       I/O) — never offered by ``enabled()``, only applied on purpose.

``enabled()`` lists the actions possible now, ``step(action)`` performs one,
``fingerprint()`` names the state, and ``verdict()`` says how the run ended.
The Machine is plain Python and knows nothing of time; ``engine.clock`` adds it.

What is state. ``LAYOUT`` (at the end of this module) declares, for the
Machine and every object it holds (threads, memory, mutexes, condition
variables, rwlocks), what each attribute is:

- ``STATE``: a step may change it. ``engine.snapshot`` saves and restores it
  and its ``key`` names it: two states with the same key must behave alike.
- ``COUNT``: a step changes it, but it measures the path, not the state (steps
  taken, preemptions): saved and restored, left out of the key on purpose.
- ``PARTS``: a fixed collection of engine objects (the threads, the memory)
  whose own layout says what in them is state.
- ``CONFIG``: fixed when the machine is built; no step changes it.
- ``MODEL``: the scenario's Python objects (its threads' local state, which the
  explorer names by each thread's received-results hash, ``Thread.hist``).
- ``OUTSIDE``: kept by a driver the explorer never uses (the timed clock, the
  trace); ``EXPLORER``: the explorer's own bookkeeping of a thread's generator.

The rule for adding engine state (a new attribute, a new lock kind, a new op
that changes something): declare it in ``LAYOUT``; if it is ``STATE``, add it
to ``snapshot.key``, ``snapshot.save`` and ``snapshot.restore``; if it is a new
op, give it a footprint in ``engine.footprint`` (an op kind the footprints do
not know is dependent on everything, which is sound but prunes nothing). A
new attribute of the Machine, a Thread or a memory model also goes into
``machine.pxd`` or ``memory.pxd``: compiled (``engine.compiled``), those classes
are extension types with a fixed set of fields.
tests/test_engine_state.py fails for an attribute that is not declared, for
configuration that a step changes, for state that the key does not tell apart
or a restore does not bring back, on every registered scenario.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from simulator.engine import ops as O
from simulator.engine import outcome, pictures
from simulator.engine.memory import ModelError, SequentialMemory, TsoMemory, make_memory
from simulator.engine.sync import CondVar, Mutex, RwLock
from simulator.engine.verdict import STUCK, Verdict
from simulator.errors import UsageError

Program = Generator[tuple, Any, None]
NUDGE = "nudge"
_MASK = (1 << 61) - 1
_PARK = object()  # a handler's answer: the thread now waits, do not resume it yet
_HANDLED = frozenset({O.LOAD, O.STORE, O.FENCE, O.LOCK, O.UNLOCK, O.CV_WAIT, O.CV_WAIT_SIG,
                      O.CV_REACQUIRE, O.CV_SIGNAL, O.CV_BROADCAST, O.RW_ENTER, O.RW_EXIT,
                      O.RW_WRITER_WAIT, O.SLEEP, O.HALT, O.SEND_SIGNAL, O.SIGNAL_PROCESS,
                      O.NOTE, O.CHECK}
                     | O.ATOMICS)
_MAY_BLOCK = frozenset({O.LOCK, O.CV_REACQUIRE, O.HALT, O.RW_ENTER, O.RW_WRITER_WAIT})


class ScheduleError(UsageError):
    """An action was asked for that is not possible now (strict replay)."""


class NeedsLiveThread(Exception):  # noqa: N818 - a signal to the explorer, not an error
    """A detached thread must run code its memo has not seen yet: the explorer
    brings the threads back to life, then hands ``result`` to this one."""

    def __init__(self, thread: str, prev: int, result: Any):
        super().__init__(thread)
        self.thread, self.prev, self.result = thread, prev, result


class NondeterministicThread(UsageError):
    """A thread's next op was not a function of the results it received (its code
    read state that another thread writes): the memo cannot stand in for it."""


class Thread:
    """A simulated thread: its program, its CPU and what it is doing now."""

    __slots__ = ("name", "cpu", "gen", "op", "wait", "signal", "daemon", "hist", "memo",
                 "gen_hist")

    def __init__(self, name: str, cpu: int, gen: Program, daemon: bool):
        self.name = name
        self.cpu = cpu
        self.gen = gen
        self.op: tuple | None = None  # the op it will perform when next run
        self.wait: tuple | None = None  # ("cv", name) or ("timer", name) while parked
        self.signal = False  # a signal is pending for it
        self.daemon = daemon  # may be left blocked at the end (a worker waiting for work)
        self.hist = 0  # a running hash of every result it has received: its local state
        # The explorer's memo of this thread's transitions, or None:
        # {hist: (next op, failure, previous hist, result received)}. ``gen_hist`` is
        # the hist the generator has actually reached: when it differs from ``hist``
        # (the explorer restored a snapshot), the thread is *detached* and steps by
        # the memo alone.
        self.memo: dict | None = None
        self.gen_hist = 0

    @property
    def done(self) -> bool:
        return self.op is None


class Machine:
    """Memory, locks, timers and threads, stepped one action at a time."""

    def __init__(
        self,
        cells: dict[str, int],
        cpus: int,
        memory_model: str = "tso",
        *,
        tracing: bool = False,
        step_budget: int = 20_000,
        check_property: Callable[[Machine], tuple[bool, str]] | None = None,
        property_holds: Callable[[Machine], bool] | None = None,
        nudge: Callable[[Machine], None] | None = None,
        nudge_wakes: Callable[[Machine, Thread], bool] | None = None,
    ):
        self.memory = make_memory(memory_model, cells, cpus)
        self.cpus = cpus
        self.threads: list[Thread] = []
        self.by_name: dict[str, Thread] = {}
        self.mutexes: dict[str, Mutex] = {}
        self.cvs: dict[str, CondVar] = {}
        self.rwlocks: dict[str, RwLock] = {}
        self.timers: dict[str, tuple[str, int]] = {}  # timer -> (thread, ns)
        self.tracing = tracing
        self.records: list[dict] = []
        self.step_budget = step_budget
        self.steps = 0
        self.now = 0  # ns; set by engine.clock in timed mode
        self.failure: str | None = None
        self.crash: str | None = None  # model code raised (a failure of the model itself)
        self.check_property = check_property
        # The property's truth read from the machine alone (no model object), for a
        # run whose threads that matter have all finished: the explorer judges such an
        # end state with it instead of bringing the model objects back to life. It
        # must agree there with check_property's first value (tests check it).
        self.property_holds = property_holds
        self.nudge_fn = nudge
        # Which blocked threads (daemons too) the nudge would set going again;
        # None: any halted CPU or interruptible wait of a thread that matters.
        self.nudge_wakes = nudge_wakes
        self.last: list[str | None] = [None] * cpus  # the thread each CPU ran last
        self.preemptions = 0
        self._drain_names = [f"drain:cpu{c}" for c in range(cpus)]

    # ------------------------------------------------------------------ set-up
    def add_thread(self, name: str, cpu: int, program: Program, daemon: bool = False) -> Thread:
        """Start a thread on ``cpu`` running ``program`` (a generator of ops)."""
        if name in self.by_name or name.startswith(("drain:", "fire:")) or name == NUDGE:
            raise ModelError(f"bad or duplicate thread name {name!r}")
        if not 0 <= cpu < self.cpus:
            raise ModelError(f"thread {name!r} on cpu{cpu}, but the machine has {self.cpus} CPUs")
        t = Thread(name, cpu, program, daemon)
        self.threads.append(t)
        self.by_name[name] = t
        self._resume(t, None, first=True)
        return t

    def mutex(self, name: str) -> Mutex:
        m = self.mutexes.get(name)
        if m is None:
            m = self.mutexes[name] = Mutex()
        return m

    def cv(self, name: str) -> CondVar:
        cv = self.cvs.get(name)
        if cv is None:
            cv = self.cvs[name] = CondVar()
        return cv

    def rwlock(self, name: str) -> RwLock:
        rw = self.rwlocks.get(name)
        if rw is None:
            rw = self.rwlocks[name] = RwLock()
        return rw

    # ------------------------------------------------------------ the actions
    def enabled(self) -> list[str]:
        """The actions possible now, in a stable order: threads, drains, timers."""
        if self.failure is not None or self.steps >= self.step_budget:
            return []
        acts = [t.name for t in self.threads if t.op is not None and t.wait is None
                and (t.op[0] not in _MAY_BLOCK or self._ready(t, t.op))]
        mem = self.memory
        if mem.buffered:
            names = self._drain_names
            acts.extend([names[c] for c, buf in enumerate(mem.buffers) if buf])
        for name in self.timers:
            acts.append("fire:" + name)
        return acts

    def _ready(self, t: Thread, op: tuple) -> bool:
        kind = op[0]
        if kind not in _MAY_BLOCK:
            return True
        # Asking never creates a lock: an untouched lock is a free one.
        if kind == O.LOCK:
            mx = self.mutexes.get(op[2])
            return mx is None or mx.owner is None
        if kind == O.CV_REACQUIRE:
            mx = self.mutexes.get(op[3])
            return mx is None or mx.owner is None
        if kind == O.HALT:
            return self.memory.cells[op[2]] != op[3]
        if kind == O.RW_ENTER:
            rw = self.rwlocks.get(op[2])
            return op[3] == O.WRITER or rw is None or rw.reader_may_enter()
        if kind == O.RW_WRITER_WAIT:
            rw = self.rwlocks.get(op[2])
            return rw is None or rw.free()
        return True

    def step(self, action: str) -> dict | None:
        """Perform one action. Returns the step record when tracing, else None."""
        if self.tracing:
            return self._traced_step(action)
        self.steps += 1
        t = self.by_name.get(action)
        if t is not None:
            self._step_thread(t, action)
        else:
            self._step_other(action)
        return None

    def take(self, action: str) -> None:
        """Perform an action that ``enabled()`` has just offered, without asking
        again whether it is possible: the explorer's step (untraced)."""
        if self.tracing:
            self._traced_step(action)
            return
        self.steps += 1
        t = self.by_name.get(action)
        if t is not None:
            self._run_thread(t, action)
        else:
            self._step_other(action)

    def replay(self, actions: list[str]) -> None:
        """Take ``actions`` one after another (untraced): the explorer's re-execution."""
        if self.tracing:
            for action in actions:
                self._traced_step(action)
            return
        by_name, step_thread = self.by_name.get, self._step_thread
        for action in actions:
            self.steps += 1
            t = by_name(action)
            if t is not None:
                step_thread(t, action)
            else:
                self._step_other(action)

    def _step_other(self, action: str) -> dict | None:
        if action.startswith("drain:"):
            return self._step_drain(action)
        if action.startswith("fire:"):
            return self._step_fire(action[5:])
        if action == NUDGE:
            return self._step_nudge()
        raise ScheduleError(f"action {action!r} is not enabled now "
                            f"(enabled: {', '.join(self.enabled()) or 'nothing'})")

    def _traced_step(self, action: str) -> dict:
        before = pictures.picture(self)
        t = self.by_name.get(action)
        self.steps += 1  # counted first, as untraced: a nudge names its thread after it
        try:
            rec = self._step_thread(t, action) if t is not None else self._step_other(action)
        except ScheduleError:
            self.steps -= 1  # refused: nothing happened
            raise
        rec["i"] = len(self.records)
        rec["t_ns"] = self.now
        rec["action"] = action
        rec["diff"] = pictures.diff(before, pictures.picture(self))
        self.records.append(rec)
        return rec

    def _step_thread(self, t: Thread, name: str) -> dict | None:
        op = t.op
        if op is None or t.wait is not None or op[0] in _MAY_BLOCK and not self._ready(t, op):
            raise ScheduleError(f"action {name!r} is not enabled now "
                                f"(enabled: {', '.join(self.enabled()) or 'nothing'})")
        return self._run_thread(t, name)

    def _run_thread(self, t: Thread, name: str) -> dict | None:
        """Run thread ``t``'s op (it is possible now): the preemption it may be,
        the op itself, and what the thread asks for next."""
        op = t.op
        last = self.last[t.cpu]
        if last != name:
            if last is not None:
                other = self.by_name[last]
                if other.op is not None and other.wait is None and self._ready(other, other.op):
                    self.preemptions += 1
            self.last[t.cpu] = name
        try:
            result = _HANDLERS[op[0]](self, t, op)
        except ModelError as exc:
            self.failure = f"{name}: {exc}"
            result = None
        rec = pictures.record(t, op, result) if self.tracing else None
        if result is not _PARK:
            self._resume(t, result)
        elif rec is not None:
            rec["result"] = None
        return rec

    def _step_drain(self, action: str) -> dict | None:
        digits = action[9:]  # after "drain:cpu"
        cpu = int(digits) if digits.isdigit() and action.startswith("drain:cpu") else -1
        mem = self.memory
        if not (mem.buffered and 0 <= cpu < self.cpus and mem.buffers[cpu]):
            raise ScheduleError(f"action {action!r} is not enabled now "
                                "(that store buffer is empty)")
        addr, value = self.memory.drain(cpu)
        if not self.tracing:
            return None
        return {"thread": f"sb{cpu}", "cpu": cpu, "func": "store buffer", "op": "drain",
                "detail": f"{addr} = {value}", "result": None}

    def _step_fire(self, timer: str) -> dict | None:
        if timer not in self.timers:
            raise ScheduleError(f"action 'fire:{timer}' is not enabled now (no such timer armed)")
        tname, ns = self.timers.pop(timer)
        t = self.by_name[tname]
        t.wait = None
        op = t.op
        self._resume(t, None)
        if not self.tracing:
            return None
        return {"thread": tname, "cpu": t.cpu, "func": op[1], "op": "wakeup",
                "detail": f"timer {timer} ({ns} ns) fired", "result": None}

    def _step_nudge(self) -> dict | None:
        if self.nudge_fn is None:
            raise ScheduleError("this scenario has no nudge")
        # The nudge knocks a stuck run loose; on any other run it is an action the
        # scenario cannot take (its model assumes a stuck system, e.g. a free ring slot).
        self.steps -= 1  # the nudge is already counted: judge the run as it stood
        try:
            now = self.verdict()
        finally:
            self.steps += 1
        if now is None or now.kind != STUCK:
            state = "still running" if now is None else f"over ({now.kind})"
            raise ScheduleError(f"the nudge applies only to a stuck run; this run is {state}")
        self.nudge_fn(self)
        if not self.tracing:
            return None
        return {"thread": "outside", "cpu": -1, "func": "nudge", "op": "nudge",
                "detail": "external nudge", "result": None}

    def _resume(self, t: Thread, result: Any, first: bool = False) -> None:
        """Hand ``result`` to the thread and fetch the op it wants next.

        With a memo (the explorer's), a thread whose generator is not at this
        point takes its next op from the memo; a live one records it there."""
        prev = t.hist
        if not first:
            t.hist = (prev * 1_000_003 + (-1 if result is None else result) + 7) & _MASK
        memo = t.memo
        if memo is not None and t.gen_hist != prev:
            entry = memo.get(t.hist)
            if entry is None:
                raise NeedsLiveThread(t.name, prev, result)
            t.op = entry[0]
            if entry[1] is not None:
                self.failure = entry[1]
            return
        failure = None
        try:
            t.op = next(t.gen) if first else t.gen.send(result)
        except StopIteration:
            t.op = None
        except UsageError:
            raise
        except Exception as exc:  # model or student code crashed: a failed run, not a crash
            t.op = None
            failure = self.crash = f"{t.name} raised {type(exc).__name__}: {exc}"
        else:
            if type(t.op) is not tuple or t.op[0] not in _HANDLED:
                bad, t.op = t.op, None
                failure = f"{t.name} yielded {bad!r}, which is not an op"
        if failure is not None:
            self.failure = failure
        t.gen_hist = t.hist
        if memo is not None:
            entry = (t.op, failure, prev, result)
            known = memo.setdefault(t.hist, entry)
            if known[0] != t.op or (known[1] is None) != (failure is None):
                raise NondeterministicThread(
                    f"thread {t.name} asked for {t.op!r} where, after the same results, it "
                    f"once asked for {known[0]!r}: its code reads state another thread writes")

    # ------------------------------------------------------------ op handlers
    def _do_load(self, t, op):
        return self.memory.load(t.cpu, op[2])

    def _do_store(self, t, op):
        if type(op[3]) is not int:
            raise ModelError(f"store of non-integer {op[3]!r} to {op[2]}")
        self.memory.store(t.cpu, op[2], op[3])

    def _do_fence(self, t, op):
        self.memory.flush(t.cpu)

    def _do_atomic(self, t, op):
        mem = self.memory
        mem.flush(t.cpu)
        old = mem.load(t.cpu, op[2])
        kind, arg = op[0], op[3]
        if kind == O.CAS:
            new = op[4] if old == arg else old
        elif kind == O.SWAP:
            new = arg
        elif kind == O.FETCH_OR:
            new = old | arg
        elif kind == O.FETCH_AND:
            new = old & arg
        else:
            new = old + arg
        mem.cells[op[2]] = new
        return old

    def _do_lock(self, t, op):
        self.memory.flush(t.cpu)
        self.mutex(op[2]).owner = t.name

    def _do_unlock(self, t, op):
        m = self.mutex(op[2])
        if m.owner != t.name:
            raise ModelError(f"mutex_exit({op[2]}) by a thread that does not own it")
        self.memory.flush(t.cpu)
        m.owner = None

    def _do_cv_wait(self, t, op):
        cv, mname = op[2], op[3]
        m = self.mutex(mname)
        if m.owner != t.name:
            raise ModelError(f"{op[0]}({cv}) without holding {mname}")
        if op[0] == O.CV_WAIT_SIG and t.signal:
            t.signal = False
            return 0
        self.memory.flush(t.cpu)
        m.owner = None
        self.cv(cv).waiters.append(t.name)
        t.wait = ("cv", cv, op[0] == O.CV_WAIT_SIG)
        t.op = (O.CV_REACQUIRE, op[1], cv, mname, 1)
        return _PARK

    def _do_cv_reacquire(self, t, op):
        self.memory.flush(t.cpu)
        self.mutex(op[3]).owner = t.name
        return op[4]

    def _do_cv_wake(self, t, op):
        self.memory.flush(t.cpu)
        waiters = self.cv(op[2]).waiters
        count = len(waiters) if op[0] == O.CV_BROADCAST else min(1, len(waiters))
        for name in waiters[:count]:
            self.by_name[name].wait = None
        del waiters[:count]
        return count

    def _do_rw_enter(self, t, op):
        self.memory.flush(t.cpu)
        rw = self.rwlock(op[2])
        if op[3] == O.READER:
            rw.readers.append(t.name)
        elif rw.free():
            rw.writer = t.name
        else:  # the writer blocks, and from now on shuts out new readers
            rw.waiting_writers.append(t.name)
            t.op = (O.RW_WRITER_WAIT, op[1], op[2], O.WRITER, None)
            return _PARK

    def _do_rw_writer_wait(self, t, op):
        rw = self.rwlock(op[2])
        rw.waiting_writers.remove(t.name)
        rw.writer = t.name

    def _do_rw_exit(self, t, op):
        rw = self.rwlock(op[2])
        self.memory.flush(t.cpu)
        holder = op[3]
        if holder is not None and holder != t.name:  # a reader's hold, dropped for it
            if holder not in rw.readers:
                raise ModelError(f"rw_exit({op[2]}) for {holder}, which holds no read hold")
            rw.readers.remove(holder)
        elif rw.writer == t.name:
            rw.writer = None
        elif t.name in rw.readers:
            rw.readers.remove(t.name)
        else:
            raise ModelError(f"rw_exit({op[2]}) by a thread that does not hold it")

    def _do_sleep(self, t, op):
        timer = op[2] or f"{t.name}.sleep"
        if timer in self.timers:
            raise ModelError(f"timer {timer} armed twice")
        self.timers[timer] = (t.name, op[3])
        t.wait = ("timer", timer)
        return _PARK

    def _do_halt(self, t, op):
        return self.memory.cells[op[2]]

    def _do_send_signal(self, t, op):
        target = self.by_name.get(op[2])
        if target is None:
            raise ModelError(f"signal to unknown thread {op[2]!r}")
        target.signal = True
        self._interrupt(target)

    def _do_signal_process(self, t, op):
        for target in self.threads:
            w = target.wait
            if w is not None and w[0] == "cv" and w[2]:
                self._interrupt(target)
        return None

    def _interrupt(self, target: Thread) -> None:
        """End ``target``'s cv_wait_sig, if it is in one: it re-takes its mutex, gets 0."""
        w = target.wait
        if w is not None and w[0] == "cv" and w[2]:
            self.cv(w[1]).waiters.remove(target.name)
            target.wait = None
            target.signal = False
            target.op = target.op[:4] + (0,)

    def _do_note(self, t, op):
        return None

    def _do_check(self, t, op):
        if not op[2]:
            self.failure = f"{op[1]}: {op[3]}"

    # ------------------------------------------------- outcome and pictures
    def verdict(self) -> Verdict | None:
        """How the run ended, or None while some action is still possible."""
        return outcome.verdict(self)

    def wait_for(self, t: Thread) -> str:
        """What a blocked thread waits for, in words (one wait-for edge)."""
        return outcome.wait_for(self, t)

    def key(self) -> tuple:
        """A canonical, hashable picture of the whole state."""
        return pictures.key(self)

    def fingerprint(self) -> str:
        """A stable name for the state: blake2b over its canonical encoding."""
        return pictures.fingerprint(self)

    def snapshot(self) -> dict:
        """The state as a person reads it: memory, each CPU's view, locks, threads."""
        return pictures.snapshot(self)


# Each op kind's handler, one table for every machine: a table of bound methods
# per machine would tie each into a reference cycle, which only the cyclic
# garbage collector could free (the explorer discards machines by the thousand
# and keeps that collector off while it searches).
_HANDLERS = {
    O.LOAD: Machine._do_load, O.STORE: Machine._do_store, O.FENCE: Machine._do_fence,
    O.CAS: Machine._do_atomic, O.SWAP: Machine._do_atomic, O.FETCH_OR: Machine._do_atomic,
    O.FETCH_AND: Machine._do_atomic, O.FETCH_ADD: Machine._do_atomic,
    O.LOCK: Machine._do_lock, O.UNLOCK: Machine._do_unlock,
    O.CV_WAIT: Machine._do_cv_wait, O.CV_WAIT_SIG: Machine._do_cv_wait,
    O.CV_REACQUIRE: Machine._do_cv_reacquire,
    O.CV_SIGNAL: Machine._do_cv_wake, O.CV_BROADCAST: Machine._do_cv_wake,
    O.RW_ENTER: Machine._do_rw_enter, O.RW_EXIT: Machine._do_rw_exit,
    O.RW_WRITER_WAIT: Machine._do_rw_writer_wait,
    O.SLEEP: Machine._do_sleep, O.HALT: Machine._do_halt,
    O.SEND_SIGNAL: Machine._do_send_signal, O.SIGNAL_PROCESS: Machine._do_signal_process,
    O.NOTE: Machine._do_note, O.CHECK: Machine._do_check,
}


# ------------------------------------------------------------ what is state
STATE = "state"  # a step may change it: snapshotted and keyed
COUNT = "count"  # changed by steps, measures the path: snapshotted, not keyed
PARTS = "parts"  # a fixed collection of engine objects with layouts of their own
CONFIG = "config"  # set when the machine is built; no step changes it
MODEL = "model"  # the scenario's Python objects: thread-local, named by Thread.hist
OUTSIDE = "outside"  # kept by a driver the explorer never uses (timed clock, trace)
EXPLORER = "explorer"  # the explorer's bookkeeping of a thread's generator

LAYOUT: dict[type, dict[str, str]] = {
    Machine: {
        "memory": PARTS, "threads": PARTS,
        "mutexes": STATE, "cvs": STATE, "rwlocks": STATE,  # name -> lock, made on first use
        "timers": STATE,  # armed timers, in the order they were armed (fire: actions' order)
        "last": STATE,  # the thread each CPU ran last: what a switch preempts
        "failure": STATE,  # a failed check or a crash ends the run
        "steps": COUNT, "preemptions": COUNT,
        "cpus": CONFIG, "by_name": CONFIG, "tracing": CONFIG, "step_budget": CONFIG,
        "check_property": CONFIG, "property_holds": CONFIG, "nudge_fn": CONFIG,
        "nudge_wakes": CONFIG,
        "_drain_names": CONFIG,
        "crash": OUTSIDE,  # why model code raised, for runs' ModelCrash (failure keys it)
        "model": MODEL,  # a scenario's model objects, for its narrative and checks
        "reach_ctx": MODEL,  # a litmus test's registers (simulator.litmus.reach)
        "now": OUTSIDE, "records": OUTSIDE,
    },
    Thread: {
        "op": STATE, "wait": STATE, "signal": STATE, "hist": STATE,
        "name": CONFIG, "cpu": CONFIG, "daemon": CONFIG,
        "gen": CONFIG,  # the program itself; where it stands is named by hist
        "memo": EXPLORER, "gen_hist": EXPLORER,
    },
    SequentialMemory: {"cells": STATE, "cpus": CONFIG, "buffered": CONFIG},
    TsoMemory: {"cells": STATE, "buffers": STATE, "cpus": CONFIG, "buffered": CONFIG},
    Mutex: {"owner": STATE},
    CondVar: {"waiters": STATE},
    RwLock: {"writer": STATE, "readers": STATE, "waiting_writers": STATE},
}
