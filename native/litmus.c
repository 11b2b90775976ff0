/*
 * litmus.c - store buffering (SB) on real cores, litmus7-style.
 *
 *   leader:   x = 1; [mfence]; r0 = y        (the device: used idx, then flags)
 *   follower: y = 1; [mfence]; r1 = x        (the driver: flags, then used idx)
 *
 * Each side's mfence has its own switch. x86-TSO allows r0 = r1 = old
 * unless both sides fence (one fence is not enough): an unfenced store may
 * wait in its core's store buffer while the following load reads the
 * cache. Runs are
 * rounds of many instances; between rounds the leader resets the arena and
 * releases the follower through the GO word. Before each instance the two
 * sides meet at a light barrier so that they really race on that instance;
 * and before each round both load every line, so each store has to win its
 * line back and waits in the store buffer meanwhile.
 *
 * The follower is either a host thread (below) or guest code in a vCPU
 * (guests/virtio_race.S) that follows exactly the same protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_CHECK 4096

#define U64(a, off) ((volatile uint64_t *)((a)->base + (off)))
#define VAR(a, off, i) ((volatile uint32_t *)((a)->base + (off) + ((uint64_t)(i) << 6)))
#define SAW(a, off, i) ((volatile uint32_t *)((a)->base + (off) + ((uint64_t)(i) << 2)))

static inline void cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

/* The racing pair of accesses; the asm keeps the compiler from reordering them. */
static inline uint32_t sb__store_load(volatile uint32_t *mine, uint32_t value,
				      volatile uint32_t *theirs, int fence)
{
	uint32_t seen;

	if (fence)
		__asm__ __volatile__("movl %2, (%1)\n\tmfence\n\tmovl (%3), %0"
				     : "=&r"(seen) : "r"(mine), "r"(value), "r"(theirs)
				     : "memory");
	else
		__asm__ __volatile__("movl %2, (%1)\n\tmovl (%3), %0"
				     : "=&r"(seen) : "r"(mine), "r"(value), "r"(theirs)
				     : "memory");
	return seen;
}

int hvr_sb__check(uint64_t iterations, uint32_t instances)
{
	if (iterations == 0 || iterations > HVR_SB_MAX_ITERATIONS)
		return hvr_error__set(EINVAL, "iterations must be between 1 and 2^40, not %llu",
				      (unsigned long long)iterations);
	if (instances == 0 || instances > HVR_SB_MAX_INSTANCES)
		return hvr_error__set(EINVAL, "instances per round must be 1-%d, not %u",
				      HVR_SB_MAX_INSTANCES, instances);
	return 0;
}

void hvr_sb__setup(struct hvr_sb_arena *a)
{
	memset(a->base, 0, HVR_SB_ARENA_SIZE);
	*U64(a, HVR_SB_LEAD_FENCE) = (uint64_t)a->lead_fence;
	*U64(a, HVR_SB_FOLLOW_FENCE) = (uint64_t)a->follow_fence;
	*U64(a, HVR_SB_INSTANCES) = a->instances;
	*U64(a, HVR_SB_FOLLOW_NEW) = a->follow_new;
}

void hvr_sb__stop(struct hvr_sb_arena *a)
{
	/* Release a follower stuck at an instance barrier, then end its loop. */
	__atomic_store_n(U64(a, HVR_SB_LEAD_TURN), ~0ull, __ATOMIC_SEQ_CST);
	__atomic_store_n(U64(a, HVR_SB_GO), ~0ull, __ATOMIC_SEQ_CST);
}

/* Spin until *word >= want; -ETIMEDOUT once timeout_ms have passed. */
static int sb__await(volatile uint64_t *word, uint64_t want, uint64_t deadline)
{
	unsigned spins = 0;

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < want) {
		cpu_relax();
		if (++spins % SPIN_CHECK == 0 && hvr_clock__ns() > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

static void sb__reset(struct hvr_sb_arena *a)
{
	uint32_t i;

	for (i = 0; i < a->instances; i++) {
		*VAR(a, HVR_SB_LEAD_VAR, i) = a->lead_old;
		*VAR(a, HVR_SB_FOLLOW_VAR, i) = a->follow_old;
		*SAW(a, HVR_SB_FOLLOW_SAW, i) = ~0u;
		*SAW(a, HVR_SB_LEAD_SAW, i) = ~0u;
	}
}

static void sb__preload(struct hvr_sb_arena *a)
{
	uint32_t i;

	for (i = 0; i < a->instances; i++) {
		(void)*VAR(a, HVR_SB_LEAD_VAR, i);
		(void)*VAR(a, HVR_SB_FOLLOW_VAR, i);
	}
}

/* One side's instances of a round; `turn` counts instances across rounds. */
static int sb__instances(struct hvr_sb_arena *a, int leader, uint64_t *turn, uint64_t deadline)
{
	uint32_t mine = leader ? HVR_SB_LEAD_VAR : HVR_SB_FOLLOW_VAR;
	uint32_t theirs = leader ? HVR_SB_FOLLOW_VAR : HVR_SB_LEAD_VAR;
	uint32_t saw = leader ? HVR_SB_LEAD_SAW : HVR_SB_FOLLOW_SAW;
	volatile uint64_t *my_turn = U64(a, leader ? HVR_SB_LEAD_TURN : HVR_SB_FOLLOW_TURN);
	volatile uint64_t *their_turn = U64(a, leader ? HVR_SB_FOLLOW_TURN : HVR_SB_LEAD_TURN);
	uint32_t value = leader ? a->lead_new : a->follow_new;
	int fence = leader ? a->lead_fence : a->follow_fence;
	uint32_t i;

	for (i = 0; i < a->instances; i++) {
		++*turn;
		__atomic_store_n(my_turn, *turn, __ATOMIC_RELAXED);
		if (sb__await(their_turn, *turn, deadline))
			return -ETIMEDOUT;
		*SAW(a, saw, i) = sb__store_load(VAR(a, mine, i), value, VAR(a, theirs, i), fence);
	}
	return 0;
}

static void sb__tally(struct hvr_sb_arena *a, struct hvr_sb_counts *out)
{
	uint32_t i;

	for (i = 0; i < a->instances; i++) {
		int follower_stale = *SAW(a, HVR_SB_FOLLOW_SAW, i) == a->lead_old;
		int leader_stale = *SAW(a, HVR_SB_LEAD_SAW, i) == a->follow_old;

		if (follower_stale && leader_stale)
			out->both_stale++;
		else if (follower_stale)
			out->follower_stale++;
		else if (leader_stale)
			out->leader_stale++;
		else
			out->none_stale++;
	}
}

/* The leader's whole run: reset, release, race, wait, count - round by round. */
int hvr_sb__lead(struct hvr_sb_arena *a, uint64_t rounds, struct hvr_sb_counts *out)
{
	uint64_t round, turn = 0, start = hvr_clock__ns();
	cpu_set_t saved;
	int ret, err;

	/* The leader runs on the caller's thread: pin it for the run, then give it back. */
	CPU_ZERO(&saved);
	err = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (err)
		ret = hvr_error__set(err, "pthread_getaffinity_np: %s", strerror(err));
	else
		ret = hvr_cpu__pin_self(a->leader_cpu);

	memset(out, 0, sizeof(*out));
	for (round = 1; !ret && round <= rounds; round++) {
		uint64_t deadline = hvr_clock__ns() + a->timeout_ms * 1000000ull;

		sb__reset(a);
		__atomic_store_n(U64(a, HVR_SB_GO), round, __ATOMIC_RELEASE);
		sb__preload(a);
		if (sb__instances(a, 1, &turn, deadline) ||
		    sb__await(U64(a, HVR_SB_DONE), round, deadline))
			ret = hvr_error__set(ETIMEDOUT, "the follower stopped answering in round "
					     "%llu", (unsigned long long)round);
		else
			sb__tally(a, out);
	}
	hvr_sb__stop(a);
	if (!err && a->leader_cpu >= 0) {
		err = pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
		if (err && !ret)
			ret = hvr_error__set(err, "cannot give the thread its CPU mask back: %s",
					     strerror(err));
	}
	out->elapsed_ns = hvr_clock__ns() - start;
	return ret;
}

/* ---- the host-only litmus: a follower thread mirroring the guest's code ---- */

struct sb_follower {
	struct hvr_sb_arena *a;
	int cpu;
	int ret;
};

static void *sb__follow(void *arg)
{
	struct sb_follower *f = arg;
	struct hvr_sb_arena *a = f->a;
	uint64_t round, go, turn = 0;

	f->ret = hvr_cpu__pin_self(f->cpu);
	for (round = 1; !f->ret; round++) {
		uint64_t deadline = hvr_clock__ns() + a->timeout_ms * 1000000ull;
		unsigned spins = 0;

		while ((go = __atomic_load_n(U64(a, HVR_SB_GO), __ATOMIC_ACQUIRE)) < round) {
			cpu_relax();
			if (++spins % SPIN_CHECK == 0 && hvr_clock__ns() > deadline)
				return (f->ret = -ETIMEDOUT), NULL;
		}
		if (go == ~0ull)
			break;
		sb__preload(a);
		if (sb__instances(a, 0, &turn, deadline))
			return (f->ret = -ETIMEDOUT), NULL;
		__atomic_store_n(U64(a, HVR_SB_DONE), round, __ATOMIC_RELEASE);
	}
	return NULL;
}

int hvr_litmus__sb(int lead_fence, int follow_fence, int virtio, uint64_t iterations,
		   uint32_t instances, struct hvr_sb_counts *out)
{
	struct hvr_sb_arena a;
	struct sb_follower f;
	pthread_t follower;
	int cpus[2], ncpu, ret, err;

	ret = hvr_sb__check(iterations, instances);
	if (ret)
		return ret;
	/* Two CPUs this process may use (taskset, cpusets, containers); with only
	 * one, neither thread is pinned and the scheduler interleaves them. */
	ncpu = hvr_cpu__allowed(cpus, 2);
	if (ncpu < 0)
		return ncpu;
	memset(&a, 0, sizeof(a));
	if (posix_memalign((void **)&a.base, 4096, HVR_SB_ARENA_SIZE))
		return hvr_error__set(ENOMEM, "out of memory");
	a.instances = instances;
	a.lead_fence = lead_fence;
	a.follow_fence = follow_fence;
	a.timeout_ms = 5000;
	a.lead_old = 0;
	a.lead_new = 1;
	/* The driver's avail flags go from NO_INTERRUPT (1) to 0; plain SB uses 0 -> 1. */
	a.follow_old = virtio ? 1 : 0;
	a.follow_new = virtio ? 0 : 1;
	a.leader_cpu = ncpu >= 2 ? cpus[0] : -1;
	f.a = &a;
	f.cpu = ncpu >= 2 ? cpus[1] : -1;
	f.ret = 0;
	hvr_sb__setup(&a);
	err = pthread_create(&follower, NULL, sb__follow, &f);
	if (err) {
		free(a.base);
		return hvr_error__set(err, "cannot start the litmus thread: %s", strerror(err));
	}
	ret = hvr_sb__lead(&a, (iterations + instances - 1) / instances, out);
	pthread_join(follower, NULL);   /* it leaves at GO = stop or on its own timeout */
	if (!ret && f.ret)
		ret = f.ret == -ETIMEDOUT ? hvr_error__set(ETIMEDOUT, "the leader stopped answering")
			: f.ret;
	free(a.base);
	return ret;
}
