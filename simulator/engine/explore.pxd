# Cython's declarations for explore.py (see machine.pxd): the search loop holds
# the machine as an extension type when compiled.
import cython
from simulator.engine.machine cimport Machine

@cython.locals(m=Machine)
cpdef _dfs(run, bound, stats, max_states, deadline, bint reduce, pending=*, visited=*,
           bint split=*)
