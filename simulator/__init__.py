"""Hypervisor Races: real hypervisor concurrency bugs as small, explorable models.

The package is layered (nothing below imports from above):

- ``engine``    the Machine: threads as generators of ops, memory (SC, x86-TSO),
                locks and condition variables, time (simpy), search, traces;
- ``models``    hypervisor components named after the real code (virtio, vLAPIC...);
- ``scenarios`` one module per bug, with buggy and fixed variants;
- ``litmus``    a catalogue of memory-model litmus tests;
- ``real``      the real machine: a small KVM backend reached through cffi;
- ``viz``, ``grading`` and ``cli`` consume traces.
"""

__version__ = "0.1.0"
