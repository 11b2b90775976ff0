/*
 * bench.c - the cost of a port-I/O exit with nothing around it: the calling
 * thread runs KVM_RUN itself and handles each exit inline, as
 * kvm-hello-world does. The figure the other paths are compared with.
 *
 * Like every wait here it has a deadline: a watchdog thread kicks the loop
 * out of KVM_RUN (immediate_exit + the kick signal) once timeout_ms pass.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

#define WATCHDOG_REKICK_MS 100

struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;               /* the loop is over: leave                     */
	int fired;              /* the deadline passed (atomic: the loop reads it) */
	uint32_t timeout_ms;
	pthread_t target;       /* the thread in KVM_RUN                        */
	struct kvm_run *run;
};

static void *watchdog__thread(void *arg)
{
	struct watchdog *w = arg;
	struct timespec deadline;
	uint32_t ms = w->timeout_ms;

	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		hvr_clock__deadline(&deadline, CLOCK_MONOTONIC, ms);
		if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != ETIMEDOUT ||
		    w->done)
			continue;
		/* Kick, and again every 100 ms until the loop has noticed. */
		__atomic_store_n(&w->fired, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&w->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(w->target, hvr_vcpu__kick_signal());
		ms = WATCHDOG_REKICK_MS;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int bench__loop(struct hvr_vcpu *vcpu, uint64_t exits, struct watchdog *w)
{
	struct kvm_run *run = vcpu->run;
	uint64_t seen = 0;

	for (;;) {
		if (__atomic_load_n(&w->fired, __ATOMIC_SEQ_CST))
			return hvr_error__set(ETIMEDOUT, "the benchmark guest did not finish "
					      "within %u ms (%llu of %llu exits)", w->timeout_ms,
					      (unsigned long long)seen, (unsigned long long)exits);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return hvr_error__set(errno, "KVM_RUN: %s", strerror(errno));
		}
		if (run->exit_reason != KVM_EXIT_IO)
			return hvr_error__set(EIO, "unexpected exit reason %u", run->exit_reason);
		switch (run->io.port) {
		case HVR_PORT_COUNT:
			seen++;
			break;
		case HVR_PORT_DONE:
			return seen == exits ? 0 : hvr_error__set(EIO, "saw %llu exits, not %llu",
					(unsigned long long)seen, (unsigned long long)exits);
		default:
			return hvr_error__set(EIO, "unexpected port 0x%x", run->io.port);
		}
	}
}

/* The loop with a watchdog around it; the kick signal unblocked meanwhile. */
static int bench__timed(struct hvr_vcpu *vcpu, uint64_t exits, uint32_t timeout_ms,
			uint64_t *elapsed_ns)
{
	struct watchdog w;
	pthread_condattr_t attr;
	pthread_t dog;
	sigset_t kick, old;
	uint64_t start;
	int ret, err;

	memset(&w, 0, sizeof(w));
	w.timeout_ms = timeout_ms;
	w.target = pthread_self();
	w.run = vcpu->run;
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &attr);
	pthread_condattr_destroy(&attr);
	sigemptyset(&kick);
	sigaddset(&kick, hvr_vcpu__kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &kick, &old);
	err = pthread_create(&dog, NULL, watchdog__thread, &w);
	if (err) {
		ret = hvr_error__set(err, "cannot start the watchdog thread: %s", strerror(err));
	} else {
		start = hvr_clock__ns();
		ret = bench__loop(vcpu, exits, &w);
		*elapsed_ns = hvr_clock__ns() - start;
		pthread_mutex_lock(&w.lock);
		w.done = 1;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(dog, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return ret;
}

int hvr_bench__io_loop(uint64_t exits, uint32_t timeout_ms, uint64_t *elapsed_ns)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int ret;

	*elapsed_ns = 0;
	if (timeout_ms == 0)
		return hvr_error__set(EINVAL, "the benchmark needs a timeout above 0 ms");
	ret = hvr_vm__create(&vm, HVR_GUEST_MIN_MEM);
	if (ret)
		return ret;
	ret = hvr_vm__load_guest(vm, "io_loop");
	if (!ret)
		ret = hvr_vm__write(vm, HVR_GUEST_DATA, &exits, sizeof(exits));
	if (!ret)
		ret = hvr_vcpu__create(vm, &vcpu, 0);
	/* The vCPU's own thread stays parked; this thread drives KVM_RUN directly. */
	if (!ret)
		ret = bench__timed(vcpu, exits, timeout_ms, elapsed_ns);
	hvr_vm__destroy(vm);
	return ret;
}
