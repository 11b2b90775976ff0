# Cython's declarations for memory.py (see machine.pxd): the memory models as
# extension types when the explorer is compiled, their accesses called directly.

cdef class SequentialMemory:
    cdef public object cells, cpus
    cdef public bint buffered
    cpdef load(self, cpu, addr)
    cpdef store(self, cpu, addr, value)
    cpdef flush(self, cpu)
    cpdef tuple drain(self, cpu)

cdef class TsoMemory(SequentialMemory):
    cdef public list buffers
