# Cython's declarations for memory.py (see machine.pxd): the memory models as
# extension types when the explorer is compiled.

cdef class SequentialMemory:
    cdef public object cells, cpus

cdef class TsoMemory(SequentialMemory):
    cdef public object buffers
