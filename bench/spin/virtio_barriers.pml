/*
 * OS-7613, the fixed variant (flags mode), as the simulator's virtio-barriers
 * scenario builds it: the same actors, the same steps, the same x86-TSO.
 *
 *   vcpu0 (CPU 0): the Linux guest's virtio-blk driver. It queues REQUESTS
 *     writes (virtqueue_add: desc addr, desc len, avail.ring slot, avail.idx),
 *     kicks (bhyve's pci_vtblk_notify runs on this thread: under vsc_mtx it
 *     takes each chain and hands it to block_if under bc_mtx, signalling
 *     bc_cond), then halts until the MSI sets the IRR bit, takes it, and runs
 *     vring_interrupt/virtblk_done (disable_cb, get_buf..., enable_cb with its
 *     fence and re-check of used.idx), until every request is completed.
 *   blkio (CPU 1): block_if's worker. Under bc_mtx it dequeues a request (or
 *     waits on bc_cond), does the I/O (a timer that fires in a step of its
 *     own), and runs pci_vtblk_done under vsc_mtx: status, vq_relchain (used
 *     entry, then used.idx), vq_endchains (re-read used.idx, MFENCE -- the
 *     fix -- then avail.flags, and the MSI if interrupts are on).
 *
 * Memory: cells in mem[]; each CPU has a FIFO store buffer (sba/sbv, sbn
 * entries); a load takes the newest buffered store to its cell, else memory;
 * a drain (one process per CPU) moves the oldest entry to memory as a step of
 * its own; MFENCE and every locked op (locks, condition variables, the IRR
 * swap and fetch_or) empty the buffer first. Each engine op is one d_step.
 *
 * A hang is an invalid end state: vcpu0 halted for ever with a request in
 * flight. With -DBUGGY the MFENCE goes and Spin finds the lost interrupt.
 */
#ifndef REQUESTS
#define REQUESTS 2
#endif
#define QSZ 4
#define SLOTS 5
#define K 16            /* store-buffer entries per CPU */

/* cell numbers, in the scenario's layout order */
#define DESC_ADDR(i) (i)
#define DESC_LEN(i) (4 + (i))
#define AVAIL_FLAGS 8
#define AVAIL_IDX 9
#define AVAIL_RING(i) (10 + (i))
#define USED_EVENT 14
#define USED_IDX 16
#define USED_ID(i) (17 + (i))
#define USED_LEN(i) (21 + (i))
#define PQ_HEAD 26
#define PQ_TAIL 27
#define PQ(i) (28 + (i))
#define STATUS(i) (33 + (i))
#define IRR 37
#define NCELLS 38

#define NOBODY 0
#define VCPU0 1
#define BLKIO 2

short mem[NCELLS];
byte sba[2 * K];        /* buffered stores: cell ...  */
short sbv[2 * K];       /* ... and value, oldest first */
byte sbn[2];
byte vsc_mtx, bc_mtx;   /* owners */
bool bc_waiting;        /* blkio is queued on bc_cond */
bool io_armed;          /* the I/O timer is armed */
byte ld_i;              /* scratch for the loads' search, always left 0 */

inline store(cpu, a, v) {
  d_step { sba[cpu * K + sbn[cpu]] = a; sbv[cpu * K + sbn[cpu]] = v; sbn[cpu]++ }
}

inline load_(cpu, a, r) {
  ld_i = sbn[cpu];
  do
  :: ld_i > 0 && sba[cpu * K + ld_i - 1] == a -> r = sbv[cpu * K + ld_i - 1]; break
  :: ld_i > 0 && sba[cpu * K + ld_i - 1] != a -> ld_i--
  :: ld_i == 0 -> r = mem[a]; break
  od;
  ld_i = 0
}

inline load(cpu, a, r) { d_step { load_(cpu, a, r) } }

inline drain_(cpu) {
  mem[sba[cpu * K]] = sbv[cpu * K];
  ld_i = 0;
  do
  :: ld_i + 1 < sbn[cpu] ->
     sba[cpu * K + ld_i] = sba[cpu * K + ld_i + 1];
     sbv[cpu * K + ld_i] = sbv[cpu * K + ld_i + 1]; ld_i++
  :: else -> break
  od;
  sbn[cpu]--; sba[cpu * K + sbn[cpu]] = 0; sbv[cpu * K + sbn[cpu]] = 0;
  ld_i = 0
}

inline flush_(cpu) {
  do
  :: sbn[cpu] > 0 -> drain_(cpu)
  :: else -> break
  od
}

inline lock(cpu, m, me) { d_step { m == NOBODY -> flush_(cpu); m = me } }
inline unlock(cpu, m) { d_step { flush_(cpu); m = NOBODY } }

proctype drain(byte cpu) {
end:
  do
  :: d_step { sbn[cpu] > 0 -> drain_(cpu) }
  od
}

proctype timer() {
end:
  do
  :: d_step { io_armed -> io_armed = false }       /* fire:io.reqN */
  od
}

proctype vcpu0() {
  byte i, head, avail_shadow, last_used, flags_shadow, in_flight, last_avail, v, tail;
  /* a journal commit: REQUESTS writes back to back */
  for (i : 0 .. REQUESTS - 1) {
    store(0, DESC_ADDR(i), 4096 * (i + 1));
    store(0, DESC_LEN(i), 16384);
    store(0, AVAIL_RING(avail_shadow % QSZ), i);
    d_step { avail_shadow++; sba[sbn[0]] = AVAIL_IDX; sbv[sbn[0]] = avail_shadow; sbn[0]++;
             in_flight = in_flight | (1 << i) }
  }
  /* virtqueue_kick: pci_vtblk_notify on this thread */
  i = 0;
  lock(0, vsc_mtx, VCPU0);
  do
  :: d_step { load_(0, AVAIL_IDX, v) }                     /* vq_has_descs */
     if
     :: v == last_avail -> break
     :: else ->
        d_step { load_(0, AVAIL_RING(last_avail % QSZ), head); last_avail++ }
        load(0, DESC_ADDR(head), v);
        load(0, DESC_LEN(head), v);
        lock(0, bc_mtx, VCPU0);                               /* blockif_request */
        load(0, PQ_TAIL, tail);
        store(0, PQ(tail % SLOTS), head);
        store(0, PQ_TAIL, tail + 1);
        d_step { flush_(0); bc_waiting = false }             /* cv_signal(bc_cond) */
        unlock(0, bc_mtx)
     fi
  od;
  atomic { v = 0; head = 0; tail = 0; flush_(0); vsc_mtx = NOBODY }  /* mutex_exit */
  /* the interrupt loop */
  do
  :: in_flight == 0 -> break
  :: else ->
     d_step { mem[IRR] != 0 -> v = mem[IRR] }              /* halt: default_idle */
     d_step { flush_(0); v = mem[IRR]; mem[IRR] = 0 }      /* swap: vlapic_intr_accepted */
     load(0, USED_IDX, v);                                 /* vring_interrupt: more_used */
     if
     :: v != last_used ->
        do                                                 /* virtblk_done */
        :: if                                              /* virtqueue_disable_cb */
           :: !(flags_shadow & 1) ->
              d_step { flags_shadow = flags_shadow | 1;
                       sba[sbn[0]] = AVAIL_FLAGS; sbv[sbn[0]] = flags_shadow; sbn[0]++ }
           :: else -> skip
           fi;
           do                                              /* virtqueue_get_buf ... */
           :: load(0, USED_IDX, v);
              if
              :: v == last_used -> break
              :: else ->
                 load(0, USED_ID(last_used % QSZ), head);
                 d_step { load_(0, USED_LEN(last_used % QSZ), v); last_used++;
                          in_flight = in_flight & ~(1 << head) }
              fi
           od;
           atomic { flags_shadow = flags_shadow & 254;   /* virtqueue_enable_cb_prepare */
                    sba[sbn[0]] = AVAIL_FLAGS; sbv[sbn[0]] = flags_shadow; sbn[0]++ }
           store(0, USED_EVENT, last_used);
           d_step { flush_(0) }                            /* virtqueue_poll: mfence */
           load(0, USED_IDX, v);
           if
           :: v == last_used -> break
           :: else -> skip
           fi
        od
     :: else -> skip
     fi;
     atomic { v = 0; head = 0 }
  od
}

proctype blkio() {
  byte req, uidx, newidx, save_used, flags, h, t;
  lock(1, bc_mtx, BLKIO);
end:
  do
  :: load(1, PQ_HEAD, h);                                  /* blockif_dequeue */
     load(1, PQ_TAIL, t);
     if
     :: h == t ->
        d_step { h = 0; t = 0; flush_(1); bc_mtx = NOBODY; bc_waiting = true }  /* cv_wait */
end_wait:
        d_step { !bc_waiting && bc_mtx == NOBODY -> flush_(1); bc_mtx = BLKIO } /* reacquire */
     :: else ->
        load(1, PQ(h % SLOTS), req);
        store(1, PQ_HEAD, h + 1);
        d_step { h = 0; t = 0 }
        unlock(1, bc_mtx);
        io_armed = true;                                   /* sleep: blockif_proc */
        !io_armed;                                         /* ... until the timer fires */
        lock(1, vsc_mtx, BLKIO);                           /* pci_vtblk_done */
        store(1, STATUS(req), 0);
        load(1, USED_IDX, uidx);                           /* vq_relchain */
        store(1, USED_ID(uidx % QSZ), req);
        store(1, USED_LEN(uidx % QSZ), 1);
        store(1, USED_IDX, uidx + 1);
        load(1, USED_IDX, newidx);                         /* vq_endchains */
#ifndef BUGGY
        d_step { flush_(1) }                               /* the OS-7613 fix: mfence */
#endif
        load(1, AVAIL_FLAGS, flags);
        if
        :: newidx != save_used && !(flags & 1) ->
           d_step { flush_(1); mem[IRR] = mem[IRR] | 1 }   /* vm_lapic_msi */
        :: else -> skip
        fi;
        d_step { save_used = newidx; req = 0; uidx = 0; newidx = 0; flags = 0 }
        unlock(1, vsc_mtx);
        lock(1, bc_mtx, BLKIO)
     fi
  od
}

init {
  atomic {
    run vcpu0();
    run blkio();
    run drain(0);
    run drain(1);
    run timer()
  }
}
