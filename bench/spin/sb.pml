/*
 * Store buffering (SB) on x86-TSO, built the way the simulator's engine
 * builds it: two CPUs, each with a FIFO store buffer. A store goes into the
 * buffer; a load takes the CPU's own buffered store to that location if
 * there is one, else reads memory; a drain is a step of its own that moves
 * the oldest buffered store to memory; MFENCE empties the buffer at once.
 *
 *   P0: x = 1; [MFENCE;] r0 = y        P1: y = 1; [MFENCE;] r1 = x
 *
 * The property: once both CPUs are done and both buffers are empty, not
 * both loads read 0. Without -DFENCE it fails (a counterexample); with
 * -DFENCE the search exhausts the state space without one.
 */
#define X 0
#define Y 1

byte mem[2];                          /* shared memory: x, y */
chan buf[2] = [2] of { byte, byte };  /* store buffers: (location, value) */
byte r[2];                            /* each CPU's EAX */
bool done[2];

/* Each CPU stores a location at most once here, so the first buffered
   match is also the newest one. */
inline load(cpu, loc) {
  atomic {
    if
    :: buf[cpu] ?? [eval(loc), _] -> buf[cpu] ?? <eval(loc), r[cpu]>
    :: else -> r[cpu] = mem[loc]
    fi
  }
}

inline mfence(cpu) {
  atomic {
    do
    :: buf[cpu] ? a, v -> mem[a] = v
    :: empty(buf[cpu]) -> break
    od
  }
}

proctype cpu(byte me; byte mine; byte theirs) {
  byte a, v;
  buf[me] ! mine, 1;
#ifdef FENCE
  mfence(me);
#endif
  load(me, theirs);
  done[me] = true
}

proctype drain(byte me) {
  byte a, v;
end:
  do
  :: atomic { buf[me] ? a, v -> mem[a] = v }
  od
}

init {
  atomic {
    run cpu(0, X, Y);
    run cpu(1, Y, X);
    run drain(0);
    run drain(1)
  }
  (done[0] && done[1] && len(buf[0]) == 0 && len(buf[1]) == 0);
  assert(!(r[0] == 0 && r[1] == 0))
}
