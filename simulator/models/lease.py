"""``vmm_drv`` leases: long-lived read holds on a VM, with an expire callback.

A thread outside any vCPU — a viona ring worker — that uses guest memory
signs a *lease* (``vmm_drv_lease_sign``): the lease goes on the VM's lease
list and its signer takes a read hold on ``vmm_rwlock``. The hold may last
for minutes, so a thread that wants the write lock cannot just wait for it:
``vmm_write_lock`` *expires* every lease — sets ``vml_expired`` and calls the
holder's expire callback — and the holder, noticing, breaks the lease
(``vmm_drv_lease_break``: off the list, read hold dropped) and signs a new
one, which waits while ``vmm_lease_blocker`` is non-zero, that is until the
write lock is released.

State, all under the mutex ``vmm_lease_lock`` except the flag holders poll:

- ``vmm_lease_blocker``  how many write lockers are expiring or holding;
- ``vmm_lease_list``     the leases signed, in order (one cell: see ``lease_ids``);
- ``vmm_lease_cv``       where signers wait for the blocker to go, and the
                         blocker waits for deferred breaks (after the fix);
- per lease ``vml_expired`` (read without the lock: ``vmm_drv_lease_expired``)
  and ``vml_break_deferred`` (after the fix).

Two versions, as the illumos source has them:

- ``Leases`` — before 6703a0e: ``vmm_write_lock`` walks the list and calls
  each callback *holding* ``vmm_lease_lock``; a break removes the lease at once.
- ``BlockingLeases`` — 6703a0e: the walk moves into ``vmm_lease_block``,
  which drops ``vmm_lease_lock`` around each callback (so a callback may take
  its own locks); a break that comes while the blocker runs is *deferred* to
  the blocker, and the blocker waits until the list is empty.

A lease's fields are re-initialised when it is signed, under the lock: the
model keeps one lease per ring, and under the fix a ring's old lease may sit
on the list (break deferred) until the blocker removes it — before the new
one can pass the blocker wait.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine import ops

_BASE = 4  # list digits: up to three lease ids, 1..3


def lease_ids(word: int) -> list[int]:
    """The lease ids on the list, head first (one base-4 digit each)."""
    out = []
    while word:
        word, d = divmod(word, _BASE)
        out.append(d)
    return out[::-1]


def _word(ids: list[int]) -> int:
    w = 0
    for i in ids:
        w = w * _BASE + i
    return w


@dataclass(frozen=True)
class Lease:
    """One holder's lease (``vmm_lease_t``): its cells, whose read hold it is,
    and the expire callback (``vml_expire_func``, a generator function that
    returns True if it broke the lease itself)."""

    lid: int
    name: str
    holder: str  # the thread whose read hold the lease is
    expire_func: Callable

    @property
    def expired(self) -> str:
        return f"{self.name}.vml_expired"

    @property
    def deferred(self) -> str:
        return f"{self.name}.vml_break_deferred"


class Leases:
    """A VM's lease table and the ``vmm_drv`` lease calls, before 6703a0e."""

    lock = "vmm_lease_lock"
    cv = "vmm_lease_cv"
    blocker = "vmm_lease_blocker"
    list_cell = "vmm_lease_list"

    def __init__(self, vmm):
        self.vmm = vmm
        self.leases: dict[int, Lease] = {}

    def lease(self, name: str, holder: str, expire_func: Callable) -> Lease:
        """Set up (once, before the run) the lease slot a holder signs into."""
        if len(self.leases) >= _BASE - 1:
            raise ValueError(f"at most {_BASE - 1} leases per VM in this model")
        lease = Lease(len(self.leases) + 1, name, holder, expire_func)
        self.leases[lease.lid] = lease
        return lease

    def cells(self) -> dict[str, int]:
        out = {self.blocker: 0, self.list_cell: 0}
        for lease in self.leases.values():
            out[lease.expired] = 0
        return out

    def signed(self, *leases: Lease) -> dict[str, int]:
        """Cells for a start in which ``leases`` are already signed (in that order)."""
        return {self.list_cell: _word([lease.lid for lease in leases])}

    # ---- the holder's calls ---------------------------------------------------
    def vmm_drv_lease_sign(self, lease: Lease):
        """Wait while a write locker blocks leases, then list the lease and take
        a read hold (still holding ``vmm_lease_lock``)."""
        yield ops.lock(self.lock, "vmm_drv_lease_sign")
        while (yield ops.load(self.blocker, "vmm_drv_lease_sign")) != 0:
            yield ops.cv_wait(self.cv, self.lock, "vmm_drv_lease_sign")
        yield from self.vmm_lease_init(lease)
        lst = yield ops.load(self.list_cell, "list_insert_tail")
        yield ops.store(self.list_cell, _word(lease_ids(lst) + [lease.lid]), "list_insert_tail")
        yield from self.vmm.vmm_read_lock()
        yield ops.unlock(self.lock, "vmm_drv_lease_sign")

    def vmm_lease_init(self, lease: Lease):
        """A fresh lease's fields (``kmem_alloc`` in ``vmm_drv_lease_sign``)."""
        yield ops.store(lease.expired, 0, "vmm_drv_lease_sign")

    def vmm_drv_lease_expired(self, lease: Lease):
        """Has the lease expired? An unlocked read of ``vml_expired``."""
        return (yield ops.load(lease.expired, "vmm_drv_lease_expired"))

    def vmm_drv_lease_break(self, lease: Lease):
        """Give the lease back: off the list, read hold dropped."""
        yield ops.lock(self.lock, "vmm_drv_lease_break")
        yield from self.vmm_lease_break_locked(lease)
        yield ops.unlock(self.lock, "vmm_drv_lease_break")

    def vmm_lease_break_locked(self, lease: Lease):
        lst = yield ops.load(self.list_cell, "list_remove")
        yield ops.store(self.list_cell, _word([i for i in lease_ids(lst) if i != lease.lid]),
                        "list_remove")
        yield from self.vmm.vmm_read_unlock(lease.holder)

    # ---- the write locker's calls -----------------------------------------------
    def vmm_lease_block(self):
        """Expire every lease. Before the fix this loop sat in ``vmm_write_lock``
        itself, and it called each callback *holding* ``vmm_lease_lock``."""
        yield ops.lock(self.lock, "vmm_write_lock")
        blockers = (yield ops.load(self.blocker, "vmm_write_lock")) + 1
        yield ops.store(self.blocker, blockers, "vmm_write_lock")
        if blockers == 1:
            for lid in lease_ids((yield ops.load(self.list_cell, "vmm_write_lock"))):
                lease = self.leases[lid]
                if not (yield ops.load(lease.expired, "vmm_write_lock")):
                    yield ops.store(lease.expired, 1, "vmm_write_lock")
                    if (yield from lease.expire_func()):
                        yield from self.vmm_lease_break_locked(lease)
        yield ops.unlock(self.lock, "vmm_write_lock")

    def vmm_lease_unblock(self):
        """The write lock is going: the last blocker wakes the waiting signers."""
        yield ops.lock(self.lock, "vmm_lease_unblock")
        blockers = (yield ops.load(self.blocker, "vmm_lease_unblock")) - 1
        yield ops.store(self.blocker, blockers, "vmm_lease_unblock")
        if blockers == 0:
            yield ops.cv_broadcast(self.cv, "vmm_lease_unblock")
        yield ops.unlock(self.lock, "vmm_lease_unblock")


class BlockingLeases(Leases):
    """6703a0e: ``vmm_lease_block`` drops ``vmm_lease_lock`` around each expire
    callback, takes over breaks that come meanwhile, and waits for them all."""

    def cells(self) -> dict[str, int]:
        return {**super().cells(), **{lease.deferred: 0 for lease in self.leases.values()}}

    def vmm_lease_init(self, lease: Lease):
        yield from super().vmm_lease_init(lease)
        yield ops.store(lease.deferred, 0, "vmm_drv_lease_sign")

    def vmm_drv_lease_break(self, lease: Lease):
        """While a blocker is at work, leave the break to it (it alone may
        change the list now) and wake it."""
        yield ops.lock(self.lock, "vmm_drv_lease_break")
        if (yield ops.load(self.blocker, "vmm_drv_lease_break")) == 0:
            yield from self.vmm_lease_break_locked(lease)
        else:
            yield ops.store(lease.deferred, 1, "vmm_drv_lease_break")
            yield ops.cv_broadcast(self.cv, "vmm_drv_lease_break")
        yield ops.unlock(self.lock, "vmm_drv_lease_break")

    def vmm_lease_block(self):
        yield ops.lock(self.lock, "vmm_lease_block")
        blockers = (yield ops.load(self.blocker, "vmm_lease_block")) + 1
        yield ops.store(self.blocker, blockers, "vmm_lease_block")
        if blockers == 1:
            for lid in lease_ids((yield ops.load(self.list_cell, "vmm_lease_block"))):
                lease = self.leases[lid]
                yield ops.store(lease.expired, 1, "vmm_lease_block")
                # The callback may take locks that are ordered before
                # vmm_lease_lock (a ring's vr_lock): call it without ours.
                yield ops.unlock(self.lock, "vmm_lease_block")
                sync_break = yield from lease.expire_func()
                yield ops.lock(self.lock, "vmm_lease_block")
                if sync_break:
                    yield from self.vmm_lease_break_locked(lease)
            yield from self.vmm_lease_wait_empty()
            yield ops.cv_broadcast(self.cv, "vmm_lease_block")
        else:
            while (yield ops.load(self.list_cell, "vmm_lease_block")) != 0:
                yield ops.cv_wait(self.cv, self.lock, "vmm_lease_block")
        yield ops.unlock(self.lock, "vmm_lease_block")

    def vmm_lease_wait_empty(self):
        """The rest of ``vmm_lease_block``: break the leases whose holders
        deferred to us, and wait for the others, until the list is empty."""
        while True:
            for lid in lease_ids((yield ops.load(self.list_cell, "vmm_lease_block"))):
                lease = self.leases[lid]
                if (yield ops.load(lease.deferred, "vmm_lease_block")):
                    yield from self.vmm_lease_break_locked(lease)
            if (yield ops.load(self.list_cell, "vmm_lease_block")) == 0:
                return
            yield ops.cv_wait(self.cv, self.lock, "vmm_lease_block")
