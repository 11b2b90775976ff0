# Cython's declarations for explore.py (see machine.pxd): the search loop holds
# the machine as an extension type when compiled, its counts as C integers.
import cython
from simulator.engine.machine cimport Machine, Thread

@cython.locals(t=Thread)
cpdef _costly(Machine m, list enabled)

cpdef Machine _take(run, Machine m, str action)

@cython.locals(m=Machine, states=cython.long, steps=cython.long, schedules=cython.long,
               pruned=cython.long)
cpdef _dfs(run, bound, stats, max_states, deadline, bint reduce, pending=*, visited=*,
           bint split=*)
