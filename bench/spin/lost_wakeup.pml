/*
 * A lost wake-up: a condition variable whose waker does not take the lock.
 *
 *   waiter: mutex_enter(m); while (!flag) cv_wait(cv, m); mutex_exit(m)
 *   waker:  flag = 1; cv_signal(cv)                 (no mutex)
 *
 * The waiter can test the flag (still 0), the waker can then set it and
 * signal a cv nobody waits on yet, and the waiter then sleeps for ever:
 * Spin reports an invalid end state, the engine a deadlock. With -DLOCKED
 * the waker holds m around its store and signal, and the search exhausts
 * without a counterexample. cv_wait releases m and joins the waiters in one
 * step, and a woken waiter re-takes m in a step of its own, as in the engine.
 */
#define NOBODY 0
#define WAITER 1
#define WAKER 2

bool flag;            /* the condition, in shared memory */
byte owner = NOBODY;  /* mutex m */
bool asleep;          /* the waiter is queued on cv */

active proctype waiter() {
  atomic { owner == NOBODY -> owner = WAITER };        /* mutex_enter(m) */
  do
  :: flag -> break
  :: else ->
     atomic { owner = NOBODY; asleep = true };         /* cv_wait: release, sleep */
     atomic { !asleep && owner == NOBODY -> owner = WAITER }  /* woken: re-take m */
  od;
  owner = NOBODY                                       /* mutex_exit(m) */
}

active proctype waker() {
#ifdef LOCKED
  atomic { owner == NOBODY -> owner = WAKER };
#endif
  flag = true;
  atomic { if :: asleep -> asleep = false :: else -> skip fi };  /* cv_signal */
#ifdef LOCKED
  owner = NOBODY
#endif
}
