# Cython's declarations for machine.py, used only when the explorer is compiled
# (engine.compiled): the machine and its threads become extension types whose
# attributes are C fields, and the methods every explored step goes through are
# called directly. machine.py itself stays plain Python and runs as it is
# where nothing was compiled. Every attribute machine.LAYOUT declares for these
# two classes is listed here; one missing is a compile error, not a silent slot.
import cython

from simulator.engine.memory cimport SequentialMemory

cdef class Thread:
    cdef public object name, cpu, gen, op, wait, signal, daemon, hist, memo, gen_hist

cdef class Machine:
    cdef dict __dict__  # a scenario's own attributes (model, reach_ctx)
    cdef public SequentialMemory memory
    cdef public object cpus, threads, by_name, mutexes, cvs, rwlocks, timers
    cdef public object tracing, records, step_budget, steps, now, failure, crash
    cdef public object check_property, property_holds, nudge_fn, nudge_wakes, last, preemptions
    cdef public object _drain_names

    @cython.locals(t=Thread)
    cpdef list enabled(self)
    cpdef bint _ready(self, Thread t, tuple op) except -1
    @cython.locals(t=Thread)
    cpdef take(self, str action)
    @cython.locals(other=Thread)
    cpdef _run_thread(self, Thread t, str name)
    cpdef _resume(self, Thread t, result, bint first=*)
