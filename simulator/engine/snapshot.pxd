# Cython's declarations for snapshot.py (see machine.pxd): the state key, save
# and restore take the machine as an extension type when compiled.
import cython
from simulator.engine.machine cimport Machine, Thread
from simulator.engine.memory cimport SequentialMemory

@cython.locals(mem=SequentialMemory, t=Thread)
cpdef tuple key(Machine m)
cpdef tuple save(Machine m, tuple k)
@cython.locals(mem=SequentialMemory, t=Thread)
cpdef restore(Machine m, tuple snap)
