/*
 * wakeup.c - a lost wake-up on real threads (the shape of illumos #14026).
 *
 * Two threads, pinned to two CPUs this process may use, run a handshake
 * round after round:
 *
 *   waiter:  lock(m); if (!flag) { [window]; cond_timedwait(cv, m); } unlock(m)
 *   waker:   flag = 1; [lock(m)]; cond_broadcast(cv); [unlock(m)]
 *
 * The waiter is viona's ring worker (check the lease, sleep on vr_cv, both
 * under vr_lock); the waker is the lease's expire callback. Without the
 * mutex around the broadcast, a broadcast that comes between the waiter's
 * check and its sleep finds nobody waiting, and the waiter sleeps on: a lost
 * wake-up. With the mutex (6703a0e), the broadcast cannot come in between.
 *
 * Each round the waker first spins a little longer than the round before
 * (sweeping its store across the waiter's path), and `window` steps of a
 * busy loop between the waiter's check and its sleep stand for a loaded
 * host taking the CPU away right there. Every wait is bounded: a sleep that
 * times out although the broadcast returned before its deadline is a lost
 * wake-up; one whose deadline came before the broadcast returned (the waker
 * was descheduled, or the broadcast itself waited for the sleeper) is
 * counted apart as late.
 * Nothing here waits without a deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define WK_SWEEP        256         /* the waker's delay cycles through 0..255 steps */
#define WK_PHASE_MS     5000        /* longest either side waits for the other        */

struct wk {
	pthread_mutex_t m;
	pthread_cond_t cv;
	volatile uint32_t flag;     /* the condition: "your lease has expired"      */
	uint64_t go;                /* round the waker may play (waiter writes)     */
	uint64_t bdone;             /* last round whose broadcast returned (waker)  */
	uint64_t bdone_ns;          /* when it returned (CLOCK_MONOTONIC, waker)    */
	int locked;                 /* 1: the waker broadcasts holding m            */
	uint64_t rounds;
	uint32_t window, timeout_us;
	int cpu[2];
	int ret[2];
	struct hvr_wakeup_counts *out;
};

/* A delay of n short steps. Not `pause`: under a hypervisor with
 * pause-loop exiting, each pause may leave the guest and take microseconds. */
static inline void wk_spin(uint32_t n)
{
	while (n--)
		__asm__ __volatile__("" ::: "memory");
}

/* Spin until *word >= want; -ETIMEDOUT after WK_PHASE_MS. */
static int wk_await(uint64_t *word, uint64_t want)
{
	uint64_t deadline = hvr_clock__ns() + WK_PHASE_MS * 1000000ull;
	unsigned spins = 0;

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < want) {
		__asm__ __volatile__("pause" ::: "memory");
		if (++spins % 4096 == 0 && hvr_clock__ns() > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

/* One round on the waiter's side; counts what happened to its sleep. */
static int wk_wait_round(struct wk *w, uint64_t round)
{
	struct hvr_wakeup_counts *out = w->out;
	struct timespec ts;
	uint64_t deadline_ns;
	int rc = 0;

	pthread_mutex_lock(&w->m);
	if (!w->flag) {
		out->waited++;
		wk_spin(w->window);            /* the window: checked, not yet asleep */
		hvr_clock__deadline_us(&ts, CLOCK_MONOTONIC, w->timeout_us);
		deadline_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		/* Like viona's worker: one check above, then sleep regardless. */
		rc = pthread_cond_timedwait(&w->cv, &w->m, &ts);
		while (rc == 0 && !w->flag)     /* a spurious wake-up sleeps again */
			rc = pthread_cond_timedwait(&w->cv, &w->m, &ts);
		if (rc == 0)
			out->woken++;
		else if (__atomic_load_n(&w->bdone, __ATOMIC_ACQUIRE) >= round &&
			 w->bdone_ns < deadline_ns)
			out->lost++;            /* it returned while we slept; we slept on */
		else
			out->late++;            /* our sleep ended before it returned */
	}
	pthread_mutex_unlock(&w->m);
	/* The round is over once the broadcast has returned; then reset the flag. */
	if (wk_await(&w->bdone, round))
		return -ETIMEDOUT;
	w->flag = 0;
	return 0;
}

static void *wk_waiter(void *arg)
{
	struct wk *w = arg;
	uint64_t round;

	if ((w->ret[0] = hvr_cpu__pin_self(w->cpu[0])))
		goto stop;
	for (round = 1; round <= w->rounds; round++) {
		__atomic_store_n(&w->go, round, __ATOMIC_RELEASE);
		w->out->rounds++;
		if ((w->ret[0] = wk_wait_round(w, round)))
			break;
	}
stop:
	__atomic_store_n(&w->go, ~0ull, __ATOMIC_RELEASE);   /* let the waker leave */
	return NULL;
}

static void *wk_waker(void *arg)
{
	struct wk *w = arg;
	uint64_t round;

	if ((w->ret[1] = hvr_cpu__pin_self(w->cpu[1])))
		return NULL;
	for (round = 1; round <= w->rounds; round++) {
		if ((w->ret[1] = wk_await(&w->go, round)))
			return NULL;
		if (__atomic_load_n(&w->go, __ATOMIC_ACQUIRE) == ~0ull)
			return NULL;
		wk_spin((uint32_t)(round % WK_SWEEP));
		__atomic_store_n(&w->flag, 1, __ATOMIC_SEQ_CST);   /* vml_expired = B_TRUE */
		if (w->locked)
			pthread_mutex_lock(&w->m);
		pthread_cond_broadcast(&w->cv);
		if (w->locked)
			pthread_mutex_unlock(&w->m);
		/* The time first, then the round that publishes it. A sleep whose
		 * deadline passed before this moment may have timed out before the
		 * broadcast reached it: that is late, not lost, even if the waiter
		 * only gets the mutex back (and reads bdone) afterwards. */
		w->bdone_ns = hvr_clock__ns();
		__atomic_store_n(&w->bdone, round, __ATOMIC_RELEASE);
	}
	return NULL;
}

int hvr_wakeup__run(int locked, uint64_t rounds, uint32_t window, uint32_t timeout_us,
		    struct hvr_wakeup_counts *out)
{
	pthread_condattr_t attr;
	pthread_t t[2];
	struct wk w;
	int cpus[2], ncpu, err, ret = 0;

	if (rounds == 0 || rounds > 1000000)
		return hvr_error__set(EINVAL, "rounds must be 1-1000000, not %llu",
				      (unsigned long long)rounds);
	if (window > 100000)
		return hvr_error__set(EINVAL, "window must be 0-100000 steps, not %u", window);
	if (timeout_us < 100 || timeout_us > 1000000)
		return hvr_error__set(EINVAL, "timeout must be 100-1000000 us, not %u", timeout_us);
	ncpu = hvr_cpu__allowed(cpus, 2);       /* within taskset/cpuset limits */
	if (ncpu < 0)
		return ncpu;
	if (ncpu < 2)
		return hvr_error__set(EXDEV, "needs two CPUs to race on; this process may use %d",
				      ncpu);

	memset(&w, 0, sizeof(w));
	memset(out, 0, sizeof(*out));
	w.locked = !!locked;
	w.rounds = rounds;
	w.window = window;
	w.timeout_us = timeout_us;
	w.out = out;
	w.cpu[0] = cpus[0];
	w.cpu[1] = cpus[1];
	out->waiter_cpu = w.cpu[0];
	out->waker_cpu = w.cpu[1];
	pthread_mutex_init(&w.m, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &attr);
	pthread_condattr_destroy(&attr);

	if ((err = pthread_create(&t[1], NULL, wk_waker, &w))) {
		ret = hvr_error__set(err, "cannot start the waker: %s", strerror(err));
		goto out;
	}
	if ((err = pthread_create(&t[0], NULL, wk_waiter, &w))) {
		__atomic_store_n(&w.go, ~0ull, __ATOMIC_RELEASE);
		pthread_join(t[1], NULL);
		ret = hvr_error__set(err, "cannot start the waiter: %s", strerror(err));
		goto out;
	}
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	if (w.ret[0] == -ETIMEDOUT || w.ret[1] == -ETIMEDOUT)
		ret = hvr_error__set(ETIMEDOUT, "timed out: a thread stopped answering for %d ms",
				     WK_PHASE_MS);
	else if (w.ret[0] || w.ret[1])
		ret = hvr_error__set(-(w.ret[0] ? w.ret[0] : w.ret[1]),
				     "cannot pin a thread: %s",
				     strerror(-(w.ret[0] ? w.ret[0] : w.ret[1])));
out:
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.m);
	return ret;
}
