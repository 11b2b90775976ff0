/*
 * error.c - one line saying why the last call on this thread failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#include "internal.h"

static __thread char last_error[256];

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
