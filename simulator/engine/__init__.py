"""The engine: a Machine that runs threads made of ops over a memory model.

Threads are Python generators that yield *ops* (``engine.ops``) and receive
each op's result. The Machine (``engine.machine``) knows which actions are
possible now, performs one chosen action at a time, and reports a verdict.
Strategies choose actions; ``engine.clock`` adds simulated time with simpy;
``engine.explore`` searches all interleavings; ``engine.trace`` records runs.
"""

# Before any engine module is imported: the compiled hot path, but only if it was
# built from the sources as they are now (engine.compiled).
from simulator.engine import compiled as _compiled  # noqa: E402

_compiled.install()
