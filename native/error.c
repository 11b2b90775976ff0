/*
 * error.c - one line saying why the last call on this thread failed; and the
 * small helpers every file uses: the clock, deadlines, CPU pinning.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#include "internal.h"

static __thread char last_error[HVR_ERROR_MAX];

/* Record a message and hand back -err, so callers can `return hvr_error__set(...)`. */
int hvr_error__set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -err;
}

const char *hvr_error__last(void)
{
	return last_error;
}

uint64_t hvr_clock__ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A deadline us microseconds from now on `clock` (condition variables here use
 * CLOCK_MONOTONIC; pthread_timedjoin_np and sem_timedwait take CLOCK_REALTIME). */
void hvr_clock__deadline_us(struct timespec *ts, clockid_t clock, uint64_t us)
{
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The same, ms milliseconds from now. */
void hvr_clock__deadline(struct timespec *ts, clockid_t clock, uint32_t ms)
{
	hvr_clock__deadline_us(ts, clock, (uint64_t)ms * 1000);
}

/*
 * The first `max` CPUs the calling thread may run on, lowest first: the mask
 * taskset, a cpuset or a container allows, which need not start at CPU 0.
 * Returns how many were found (0..max) or -errno.
 */
int hvr_cpu__allowed(int *cpus, int max)
{
	cpu_set_t set;
	int cpu, found = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return hvr_error__set(errno, "sched_getaffinity: %s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE && found < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[found++] = cpu;
	return found;
}

int hvr_cpu__pin_self(int cpu)
{
	cpu_set_t set;
	int err;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		return hvr_error__set(err, "cannot pin a thread to CPU %d: %s", cpu, strerror(err));
	return 0;
}
