# Cython's declarations for footprint.py (see machine.pxd).

cpdef bint independent(tuple a, tuple b) except -1
