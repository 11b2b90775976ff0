/*
 * test_native.c - C-level tests of the backend's resource rules, built with
 * AddressSanitizer and UndefinedBehaviorSanitizer by `make sanitize`.
 *
 * Each test returns PASS, FAIL or SKIP (with a reason: no /dev/kvm, too few
 * CPUs). What they check: no fd or memory outlives a VM; a vCPU inside a slow
 * port callback is never freed under its thread; a failed vCPU create leaves
 * its id usable; guest memory is not inherited by fork; error exits keep
 * their data; the guest log is never cut short silently; the benchmark loop
 * times out; threads are pinned only within the allowed CPUs. And each
 * experiment once, small: the signal lab in a forked child (it refuses a
 * process with more than one thread), the lost wake-up handshake, the IOAPIC
 * write beside a running vCPU. Time limits are hang guards (60 s), never
 * measurements; what is asserted is what happened, never how fast.
 *
 * Linked with -Wl,--wrap=pthread_create,--wrap=pthread_setaffinity_np so a
 * test can make a thread fail to start and see which CPUs were asked for.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

enum { PASS, FAIL, SKIP };
#define GUARD_MS 60000u
#define IO_PORT_DATA (HVR_GUEST_DATA + 8)

static char why[512];

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return FAIL;
}

static int skip(const char *reason)
{
	snprintf(why, sizeof(why), "%s", reason);
	return SKIP;
}

#define CHECK(cond, ...) do { if (!(cond)) return fail(__VA_ARGS__); } while (0)

/* ---- wrapped libc: a thread that fails to start, CPUs asked for ---- */

int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
int __real_pthread_setaffinity_np(pthread_t, size_t, const cpu_set_t *);

static int fail_next_thread;
static cpu_set_t asked;         /* union of every CPU set a thread was pinned to */

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	if (__atomic_exchange_n(&fail_next_thread, 0, __ATOMIC_SEQ_CST))
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

int __wrap_pthread_setaffinity_np(pthread_t t, size_t size, const cpu_set_t *set)
{
	CPU_OR(&asked, &asked, set);
	return __real_pthread_setaffinity_np(t, size, set);
}

/* ---- helpers ---- */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* the directory's own fd */
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (hang guard: GUARD_MS) until only `want` vCPU threads are alive. */
static int threads_settle(int want)
{
	unsigned waited;

	for (waited = 0; waited < GUARD_MS; waited += 10) {
		if (hvr_vcpu__threads() == want)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static int need_kvm(void)
{
	const char *hidden = getenv("HVRACES_NO_KVM");

	if (hidden && *hidden && strcmp(hidden, "0"))
		return skip("/dev/kvm hidden by HVRACES_NO_KVM=1");
	if (hvr_kvm__check() < 0)
		return skip(hvr_error__last());
	return PASS;
}

/* io_loop: N writes of N..1 to `port` (0: the count port), then done. */
static int io_vm(struct hvr_vm **vm, uint64_t n, uint64_t port)
{
	int ret = hvr_vm__create(vm, HVR_GUEST_MIN_MEM);

	if (!ret)
		ret = hvr_vm__load_guest(*vm, "io_loop");
	if (!ret)
		ret = hvr_vm__write(*vm, HVR_GUEST_DATA, &n, sizeof(n));
	if (!ret)
		ret = hvr_vm__write(*vm, IO_PORT_DATA, &port, sizeof(port));
	return ret;
}

/* A port callback that blocks until released, like a slow Python handler. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered, released, calls;
	struct hvr_vm *close_vm;        /* destroy this VM from inside the callback */
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL };

static void gate_reset(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.entered = gate.released = gate.calls = 0;
	gate.close_vm = NULL;
	pthread_mutex_unlock(&gate.lock);
}

static int gate_callback(void *user, uint16_t port, int is_out, uint32_t *value)
{
	struct timespec deadline;
	struct hvr_vm *close_vm;

	(void)user; (void)port; (void)is_out; (void)value;
	pthread_mutex_lock(&gate.lock);
	gate.calls++;
	gate.entered = 1;
	close_vm = gate.close_vm;
	gate.close_vm = NULL;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	if (close_vm) {
		hvr_vm__destroy(close_vm);      /* a callback closing its own VM */
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += GUARD_MS / 1000;
	pthread_mutex_lock(&gate.lock);
	while (!gate.released)
		if (pthread_cond_timedwait(&gate.cond, &gate.lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&gate.lock);
	return 0;
}

static int gate_wait_entered(void)
{
	struct timespec deadline;
	int entered;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += GUARD_MS / 1000;
	pthread_mutex_lock(&gate.lock);
	while (!gate.entered)
		if (pthread_cond_timedwait(&gate.cond, &gate.lock, &deadline) == ETIMEDOUT)
			break;
	entered = gate.entered;
	pthread_mutex_unlock(&gate.lock);
	return entered;
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.released = 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static int gated_vcpu(struct hvr_vm **vm, struct hvr_vcpu **vcpu)
{
	int ret = io_vm(vm, 1000, 0);

	gate_reset();
	if (!ret)
		ret = hvr_vcpu__create(*vm, vcpu, 0);
	if (!ret)
		ret = hvr_vcpu__set_callback(*vcpu, gate_callback, NULL);
	if (!ret)
		ret = hvr_vcpu__route(*vcpu, HVR_PORT_COUNT, HVR_ROUTE_PYTHON);
	return ret;
}

/* ---- the tests ---- */

static int test_vm_cycles_leave_no_fd(void)
{
	int before = open_fds(), threads = hvr_vcpu__threads(), i, ret;

	if (need_kvm())
		return SKIP;
	for (i = 0; i < 50; i++) {
		struct hvr_vm *vm;
		struct hvr_vcpu *vcpu;

		ret = io_vm(&vm, 10, 0);
		CHECK(!ret, "create: %s", hvr_error__last());
		ret = hvr_vcpu__create(vm, &vcpu, 0);
		CHECK(!ret, "vcpu: %s", hvr_error__last());
		ret = hvr_vcpu__run(vcpu, GUARD_MS);
		CHECK(ret == HVR_STOP_DONE, "run gave %d: %s", ret, hvr_error__last());
		hvr_vm__destroy(vm);
	}
	CHECK(hvr_vcpu__threads() == threads, "%d vCPU threads left", hvr_vcpu__threads());
	CHECK(open_fds() == before, "%d fds before, %d after", before, open_fds());
	return PASS;
}

static int test_destroy_during_slow_callback_defers_the_free(void)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int before = open_fds(), threads = hvr_vcpu__threads(), ret, released;

	if (need_kvm())
		return SKIP;
	ret = gated_vcpu(&vm, &vcpu);
	CHECK(!ret, "set-up: %s", hvr_error__last());
	CHECK(!hvr_vcpu__resume(vcpu), "resume: %s", hvr_error__last());
	CHECK(gate_wait_entered(), "the callback never ran");
	hvr_vm__destroy(vm);    /* returns although the thread is still in the callback */
	pthread_mutex_lock(&gate.lock);
	released = gate.released;
	pthread_mutex_unlock(&gate.lock);
	CHECK(!released, "destroy waited for the callback");
	CHECK(hvr_vcpu__threads() == threads + 1, "the orphaned thread is gone too early");
	gate_release();
	CHECK(threads_settle(threads), "the orphaned vCPU thread never left");
	CHECK(gate.calls == 1, "the callback ran %d times after the close", gate.calls);
	CHECK(open_fds() == before, "%d fds before, %d after", before, open_fds());
	return PASS;
}

static int test_callback_may_destroy_its_own_vm(void)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int before = open_fds(), threads = hvr_vcpu__threads(), ret;

	if (need_kvm())
		return SKIP;
	ret = gated_vcpu(&vm, &vcpu);
	CHECK(!ret, "set-up: %s", hvr_error__last());
	gate.close_vm = vm;
	CHECK(!hvr_vcpu__resume(vcpu), "resume: %s", hvr_error__last());
	CHECK(threads_settle(threads), "the vCPU thread never left");
	CHECK(gate.calls == 1, "the callback ran %d times", gate.calls);
	CHECK(open_fds() == before, "%d fds before, %d after", before, open_fds());
	return PASS;
}

struct runner {
	struct hvr_vcpu *vcpu;
	int ret;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;

	r->ret = hvr_vcpu__run(r->vcpu, GUARD_MS);
	return NULL;
}

static int test_stop_releases_a_waiting_controller(void)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	struct runner r;
	pthread_t t;
	int threads = hvr_vcpu__threads(), ret;

	if (need_kvm())
		return SKIP;
	ret = gated_vcpu(&vm, &vcpu);
	CHECK(!ret, "set-up: %s", hvr_error__last());
	r.vcpu = vcpu;
	r.ret = 0;
	CHECK(!pthread_create(&t, NULL, run_vcpu, &r), "cannot start the controller");
	CHECK(gate_wait_entered(), "the callback never ran");
	hvr_vm__stop(vm);
	pthread_join(t, NULL);  /* returns while the callback still blocks */
	CHECK(r.ret == -ESHUTDOWN, "run returned %d, not -ESHUTDOWN", r.ret);
	CHECK(!gate.released, "the controller waited for the callback");
	CHECK(hvr_vcpu__resume(vcpu) == -ESHUTDOWN, "a stopped vCPU ran again");
	hvr_vm__destroy(vm);
	gate_release();
	CHECK(threads_settle(threads), "the vCPU thread never left");
	return PASS;
}

static int test_failed_create_keeps_its_id(void)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int ret;

	if (need_kvm())
		return SKIP;
	CHECK(!io_vm(&vm, 5, 0), "create: %s", hvr_error__last());
	fail_next_thread = 1;
	ret = hvr_vcpu__create(vm, &vcpu, 0);
	CHECK(ret == -EAGAIN && !vcpu, "the injected failure gave %d", ret);
	ret = hvr_vcpu__create(vm, &vcpu, 0);
	CHECK(!ret, "the second create failed: %s", hvr_error__last());
	CHECK(vcpu->id == 0, "the vCPU got id %d, not 0", vcpu->id);
	ret = hvr_vcpu__run(vcpu, GUARD_MS);
	CHECK(ret == HVR_STOP_DONE && hvr_vcpu__count(vcpu) == 5, "run gave %d", ret);
	hvr_vm__destroy(vm);
	return PASS;
}

static int test_guest_memory_is_not_inherited_by_fork(void)
{
	struct hvr_vm *vm;
	char line[512], start[32];
	FILE *f;
	int in_mapping = 0, dontfork = 0;

	if (need_kvm())
		return SKIP;
	CHECK(!hvr_vm__create(&vm, HVR_GUEST_MIN_MEM), "create: %s", hvr_error__last());
	snprintf(start, sizeof(start), "%llx-", (unsigned long long)(uintptr_t)vm->mem);
	f = fopen("/proc/self/smaps", "r");
	CHECK(f, "cannot read /proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') > strchr(line, '-'))
			in_mapping = !strncmp(line, start, strlen(start));
		if (in_mapping && !strncmp(line, "VmFlags:", 8))
			dontfork = strstr(line, " dc") != NULL;
	}
	fclose(f);
	hvr_vm__destroy(vm);
	CHECK(dontfork, "guest memory lacks MADV_DONTFORK (no 'dc' in VmFlags)");
	return PASS;
}

/* A vCPU that never ran, around a kvm_run we fill in: handle_exit on its own. */
static int exit_with(uint32_t reason, void (*fill)(struct kvm_run *), struct hvr_exit_info *x,
		     char *msg, size_t len)
{
	struct hvr_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	struct kvm_run *run = calloc(1, sizeof(*run));
	int ret;

	run->exit_reason = reason;
	fill(run);
	vcpu->run = run;
	ret = hvr_vcpu__handle_exit(vcpu);
	*x = vcpu->last_exit;
	snprintf(msg, len, "%s", vcpu->error);
	free(run);
	free(vcpu);
	return ret;
}

static void fill_internal(struct kvm_run *run)
{
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->internal.ndata = 3;
	run->internal.data[0] = 0x1;
	run->internal.data[1] = 0xdeadbeef;
	run->internal.data[2] = 0xffffffffffffffffull;
}

static void fill_internal_too_many(struct kvm_run *run)
{
	run->internal.suberror = 99;
	run->internal.ndata = 40;       /* more than the 16 words kvm_run has */
}

static void fill_unknown(struct kvm_run *run)
{
	run->hw.hardware_exit_reason = 0x42;
}

static void fill_nothing(struct kvm_run *run)
{
	run->padding[0] = 7;
}

static int test_error_exits_keep_their_data(void)
{
	struct hvr_exit_info x;
	char msg[HVR_ERROR_MAX];
	int ret;

	ret = exit_with(KVM_EXIT_INTERNAL_ERROR, fill_internal, &x, msg, sizeof(msg));
	CHECK(ret == HVR_STOP_ERROR, "internal error gave stop %d", ret);
	CHECK(x.reason == KVM_EXIT_INTERNAL_ERROR && x.suberror == 1 && x.ndata == 3 &&
	      x.data[1] == 0xdeadbeef && x.data[2] == ~0ull, "exit info not kept");
	CHECK(strstr(msg, "emulation") && strstr(msg, "0x1 0xdeadbeef 0xffffffffffffffff"),
	      "message: %s", msg);
	exit_with(KVM_EXIT_INTERNAL_ERROR, fill_internal_too_many, &x, msg, sizeof(msg));
	CHECK(x.ndata == 16 && strstr(msg, "suberror 99"), "ndata %u; message: %s", x.ndata, msg);
	exit_with(KVM_EXIT_UNKNOWN, fill_unknown, &x, msg, sizeof(msg));
	CHECK(x.ndata == 1 && x.data[0] == 0x42 && strstr(msg, "hardware exit reason 0x42"),
	      "message: %s", msg);
	exit_with(999, fill_nothing, &x, msg, sizeof(msg));
	CHECK(x.reason == 999 && x.data[0] == 7 && strstr(msg, "exit reason 999"),
	      "message: %s", msg);
	return PASS;
}

static int log_run(uint64_t n, uint32_t *buf, int *logged)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int ret = io_vm(&vm, n, HVR_PORT_LOG);

	if (!ret)
		ret = hvr_vcpu__create(vm, &vcpu, 0);
	if (!ret)
		ret = hvr_vcpu__run(vcpu, GUARD_MS);
	if (ret == HVR_STOP_DONE)
		*logged = hvr_vcpu__log(vcpu, buf, HVR_LOG_MAX);
	hvr_vm__destroy(vm);
	return ret;
}

static int test_a_full_log_is_never_cut_short(void)
{
	static uint32_t buf[HVR_LOG_MAX];
	int logged = 0, ret;

	if (need_kvm())
		return SKIP;
	ret = log_run(HVR_LOG_MAX, buf, &logged);
	CHECK(ret == HVR_STOP_DONE, "run gave %d: %s", ret, hvr_error__last());
	CHECK(logged == HVR_LOG_MAX && buf[0] == HVR_LOG_MAX && buf[HVR_LOG_MAX - 1] == 1,
	      "a full log read back as %d values", logged);
	ret = log_run(HVR_LOG_MAX + 1, buf, &logged);
	CHECK(ret == HVR_STOP_DONE, "run gave %d: %s", ret, hvr_error__last());
	CHECK(logged == -EOVERFLOW, "an overfull log read back as %d, not -EOVERFLOW", logged);
	return PASS;
}

static int test_bench_loop_times_out(void)
{
	uint64_t ns;
	int ret;

	if (need_kvm())
		return SKIP;
	ret = hvr_bench__io_loop(1000, GUARD_MS, &ns);
	CHECK(ret == 0, "a short benchmark failed: %s", hvr_error__last());
	ret = hvr_bench__io_loop(1ull << 62, 200, &ns);
	CHECK(ret == -ETIMEDOUT && strstr(hvr_error__last(), "within 200 ms"),
	      "an endless benchmark gave %d: %s", ret, hvr_error__last());
	return PASS;
}

static int ticks;       /* port writes seen by count_callback (atomic) */

static int count_callback(void *user, uint16_t port, int is_out, uint32_t *value)
{
	(void)user; (void)port; (void)is_out; (void)value;
	__atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* Resume, wait until the guest has really run (a hang guard, not a timing),
 * kick it out mid-run; many times over. */
static int test_kicks_under_load(void)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	int i, seen, waited, ret;

	if (need_kvm())
		return SKIP;
	CHECK(!io_vm(&vm, 1ull << 40, 0), "create: %s", hvr_error__last());
	CHECK(!hvr_vcpu__create(vm, &vcpu, 0), "vcpu: %s", hvr_error__last());
	CHECK(!hvr_vcpu__set_callback(vcpu, count_callback, NULL), "%s", hvr_error__last());
	CHECK(!hvr_vcpu__route(vcpu, HVR_PORT_COUNT, HVR_ROUTE_PYTHON), "%s", hvr_error__last());
	for (i = 0; i < 100; i++) {
		seen = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
		CHECK(!hvr_vcpu__resume(vcpu), "resume %d: %s", i, hvr_error__last());
		for (waited = 0; __atomic_load_n(&ticks, __ATOMIC_SEQ_CST) == seen; waited++) {
			CHECK(waited < (int)GUARD_MS, "the guest did not run after resume %d", i);
			sleep_ms(1);
		}
		ret = hvr_vcpu__kick(vcpu);
		CHECK(ret == HVR_STOP_KICKED, "kick %d gave %d: %s", i, ret, hvr_error__last());
	}
	CHECK(!hvr_vcpu__resume(vcpu), "resume: %s", hvr_error__last());
	hvr_vm__destroy(vm);    /* while it runs */
	return PASS;
}

static int litmus_small(void *arg)
{
	struct hvr_sb_counts c;

	(void)arg;
	return hvr_litmus__sb(1, 1, 0, 40, 20, &c);
}

static int race_small(void *arg)
{
	struct hvr_vm *vm;
	struct hvr_vcpu *vcpu;
	struct hvr_sb_counts c;
	int ret = hvr_vm__create(&vm, HVR_GUEST_MIN_MEM);

	(void)arg;
	if (ret)
		return ret;
	ret = hvr_vm__load_guest(vm, "virtio_race");
	if (!ret)
		ret = hvr_vcpu__create(vm, &vcpu, HVR_VCPU_RING3);
	if (!ret)
		ret = hvr_race__virtio(vm, vcpu, 1, 1, 40, 20, &c);
	hvr_vm__destroy(vm);
	return ret;
}

static int pinned_outside(cpu_set_t *mask)
{
	cpu_set_t outside;

	CPU_XOR(&outside, &asked, mask);
	CPU_AND(&outside, &outside, &asked);
	return CPU_COUNT(&outside);
}

static int check_pins(int (*fn)(void *))
{
	cpu_set_t all, mask;
	int cpus[CPU_SETSIZE], n, i, ret, outside;

	n = hvr_cpu__allowed(cpus, CPU_SETSIZE);
	if (n < 2)
		return skip("needs two allowed CPUs");
	CPU_ZERO(&mask);
	for (i = 1; i < n; i++)         /* every allowed CPU but the lowest */
		CPU_SET(cpus[i], &mask);
	CHECK(!sched_getaffinity(0, sizeof(all), &all), "sched_getaffinity");
	CHECK(!sched_setaffinity(0, sizeof(mask), &mask), "cannot restrict this thread");
	CPU_ZERO(&asked);
	ret = fn(NULL);
	outside = pinned_outside(&mask);
	sched_setaffinity(0, sizeof(all), &all);
	CHECK(!ret, "the run failed: %s", hvr_error__last());
	CHECK(!outside, "a thread was pinned to %d CPU(s) outside the allowed mask", outside);
	return PASS;
}

static int test_litmus_pins_within_the_allowed_cpus(void)
{
	return check_pins(litmus_small);
}

static int test_virtio_race_pins_within_the_allowed_cpus(void)
{
	if (need_kvm())
		return SKIP;
	return check_pins(race_small);
}

/* ---- the experiments, small ---- */

/* With the waiter's mutex held across the broadcast (6703a0e) no wake-up is
 * lost; with or without it, every sleep ends woken, lost or late, and both
 * threads sit on CPUs this process may use. A lost wake-up costs its sleep's
 * whole timeout, so without the mutex the timeout is short (2 ms, whatever
 * the count); with it, 1 s is a hang guard: a "late" sleep only means a
 * descheduled waker. */
static int test_wakeup_handshakes_account_for_every_sleep(void)
{
	struct hvr_wakeup_counts c;
	cpu_set_t allowed;
	int locked, ret;

	CHECK(!sched_getaffinity(0, sizeof(allowed), &allowed), "sched_getaffinity");
	for (locked = 0; locked < 2; locked++) {
		ret = hvr_wakeup__run(locked, 200, locked ? 200 : 0, locked ? 1000000 : 2000, &c);
		if (ret == -EXDEV)
			return skip(hvr_error__last());
		CHECK(!ret, "handshakes (locked=%d): %s", locked, hvr_error__last());
		CHECK(c.rounds == 200 && c.waited == c.woken + c.lost + c.late,
		      "locked=%d: %llu rounds, %llu sleeps = %llu woken + %llu lost + %llu late",
		      locked, (unsigned long long)c.rounds, (unsigned long long)c.waited,
		      (unsigned long long)c.woken, (unsigned long long)c.lost,
		      (unsigned long long)c.late);
		CHECK(c.waiter_cpu != c.waker_cpu && CPU_ISSET(c.waiter_cpu, &allowed) &&
		      CPU_ISSET(c.waker_cpu, &allowed), "pinned to CPUs %d and %d",
		      c.waiter_cpu, c.waker_cpu);
		CHECK(!locked || c.lost == 0, "%llu wake-ups lost with the mutex held",
		      (unsigned long long)c.lost);
	}
	CHECK(hvr_wakeup__run(0, 0, 0, 1000, &c) == -EINVAL, "0 rounds accepted");
	CHECK(hvr_wakeup__run(0, 1, 0, 99, &c) == -EINVAL, "a 99 us timeout accepted");
	return PASS;
}

static void *wait_for_a_byte(void *arg)
{
	char byte;

	if (read(*(int *)arg, &byte, 1) < 0)
		return NULL;
	return NULL;
}

/* A child of this (multi-threaded) process has one thread: the signal lab's
 * rule. It sends back the lab's return value and report through a pipe. */
struct signal_reply {
	int ret;
	struct hvr_signal_report r;
	char error[HVR_ERROR_MAX];
};

static int signal_lab_in_child(struct signal_reply *reply)
{
	int fds[2], status = 0;
	unsigned waited;
	ssize_t got = 0, n;
	pid_t pid;

	if (pipe(fds))
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct signal_reply out;

		close(fds[0]);
		memset(&out, 0, sizeof(out));
		out.ret = hvr_signals__experiment(1000, &out.r);
		snprintf(out.error, sizeof(out.error), "%s", hvr_error__last());
		n = write(fds[1], &out, sizeof(out));
		_exit(n == (ssize_t)sizeof(out) ? 0 : 1);   /* no atexit: the parent's state */
	}
	close(fds[1]);
	for (waited = 0; got < (ssize_t)sizeof(*reply) && waited < GUARD_MS; waited += 100) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fds[0], (char *)reply + got, sizeof(*reply) - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fds[0]);
	if (got < (ssize_t)sizeof(*reply))
		kill(pid, SIGKILL);     /* the hang guard fired, or the child died */
	waitpid(pid, &status, 0);
	if (got < (ssize_t)sizeof(*reply))
		return fail("timed out, or the child ended early (status %#x)", status);
	return PASS;
}

/* hyperkit #94: a SIGCONT sent to one thread is not seen by another thread's
 * signalfd, and the wait for it ends only by its bound; one sent to the
 * process is seen; with a handler, it runs on its target and interrupts read(). */
static int test_signal_lab_in_a_single_threaded_child(void)
{
	struct signal_reply rep;
	struct hvr_signal_report r;
	pthread_t second;
	int fds[2], busy;
	char bye = 'q';

	/* Here, with a second thread, it must refuse: it would change this
	 * process's signal mask and SIGCONT's disposition under that thread. */
	CHECK(!pipe(fds), "pipe: %s", strerror(errno));
	CHECK(!pthread_create(&second, NULL, wait_for_a_byte, &fds[0]), "pthread_create");
	busy = hvr_signals__experiment(1000, &r);
	if (write(fds[1], &bye, 1) != 1)
		return fail("cannot stop the second thread");
	pthread_join(second, NULL);
	close(fds[0]);
	close(fds[1]);
	CHECK(busy == -EBUSY, "ran beside a second thread (gave %d)", busy);
	if (signal_lab_in_child(&rep) != PASS)
		return FAIL;
	r = rep.r;
	CHECK(!rep.ret, "the lab failed: %s", rep.error);
	CHECK(!r.thread_directed_seen_by_m && r.thread_directed_pending_on_b &&
	      !r.cancel_done_thread_directed,
	      "pthread_kill: seen by mevent %d, pending on blkio %d, wait ended %d",
	      r.thread_directed_seen_by_m, r.thread_directed_pending_on_b,
	      r.cancel_done_thread_directed);
	CHECK(r.process_directed_seen_by_m && r.cancel_done_process_directed,
	      "kill: seen by mevent %d, wait ended %d", r.process_directed_seen_by_m,
	      r.cancel_done_process_directed);
	CHECK(r.handler_on_target && r.cancel_done_handler && r.read_result == -1 &&
	      r.read_errno == EINTR, "handler: on blkio %d, acknowledged %d, read %d (errno %d)",
	      r.handler_on_target, r.cancel_done_handler, r.read_result, r.read_errno);
	CHECK(hvr_signals__experiment(50, &r) == -EINVAL, "a 50 ms timeout accepted");
	return PASS;
}

static uint32_t guest_u32(struct hvr_vm *vm, uint64_t gpa)
{
	uint32_t v = 0;

	hvr_vm__read(vm, gpa, &v, sizeof(v));
	return v;
}

/* OS-7622 on KVM: vCPU0's IOAPIC write completes while vCPU1 spins in its
 * guest, KVM's redirection table holds it, and vCPU1 was never stopped. */
static int test_ioapic_write_beside_a_running_vcpu(void)
{
	const uint64_t want = (1ull << 56) | 0x1a036;
	struct hvr_vm *vm;
	struct hvr_vcpu *writer, *other;
	uint32_t one = 1, log[1];
	uint64_t entry = 0;
	unsigned waited;
	int ret;

	if (need_kvm())
		return SKIP;
	CHECK(!hvr_vm__create(&vm, HVR_GUEST_MIN_MEM), "create: %s", hvr_error__last());
	ret = hvr_vm__load_guest(vm, "ioapic_write");
	if (!ret)
		ret = hvr_vcpu__create(vm, &writer, 0);
	if (!ret)
		ret = hvr_vcpu__create(vm, &other, 0);
	if (!ret)
		ret = hvr_vcpu__make_runnable(other);
	if (!ret)
		ret = hvr_vm__write(vm, HVR_IOAPIC_DEST, &one, sizeof(one));
	if (!ret)
		ret = hvr_vcpu__resume(other);
	for (waited = 0; !ret && !guest_u32(vm, HVR_IOAPIC_STARTED); waited++) {
		if (waited >= GUARD_MS)
			ret = hvr_error__set(ETIMEDOUT, "timed out: vCPU1 never started");
		sleep_ms(1);
	}
	if (ret) {
		hvr_vm__destroy(vm);
		return fail("set-up: %s", hvr_error__last());
	}
	CHECK(hvr_vcpu__make_runnable(other) == -EBUSY, "made a running vCPU runnable");
	ret = hvr_vcpu__run(writer, GUARD_MS);
	CHECK(ret == HVR_STOP_DONE && hvr_vcpu__done_value(writer) == HVR_IOAPIC_WRITER_DONE,
	      "the write: stop %d, done %#llx: %s", ret,
	      (unsigned long long)hvr_vcpu__done_value(writer), hvr_error__last());
	CHECK(hvr_vcpu__log(writer, log, 1) == 1 && log[0] == 0x1a036, "read back %#x", log[0]);
	CHECK(!hvr_vm__ioapic_entry(vm, 6, &entry) && entry == want,
	      "pin 6 holds %#llx: %s", (unsigned long long)entry, hvr_error__last());
	CHECK(hvr_vm__ioapic_entry(vm, HVR_IOAPIC_PINS, &entry) == -EINVAL, "pin 24 accepted");
	CHECK(hvr_vcpu__wait(other, 0) == -ETIMEDOUT, "the write stopped vCPU1");
	CHECK(!hvr_vm__write(vm, HVR_IOAPIC_GO, &one, sizeof(one)), "%s", hvr_error__last());
	ret = hvr_vcpu__wait(other, GUARD_MS);
	CHECK(ret == HVR_STOP_DONE && hvr_vcpu__done_value(other) == HVR_IOAPIC_OTHER_DONE,
	      "vCPU1: stop %d: %s", ret, hvr_error__last());
	hvr_vm__destroy(vm);
	return PASS;
}

static const struct { const char *name; int (*fn)(void); } tests[] = {
	{ "vm_cycles_leave_no_fd", test_vm_cycles_leave_no_fd },
	{ "destroy_during_slow_callback_defers_the_free",
	  test_destroy_during_slow_callback_defers_the_free },
	{ "callback_may_destroy_its_own_vm", test_callback_may_destroy_its_own_vm },
	{ "stop_releases_a_waiting_controller", test_stop_releases_a_waiting_controller },
	{ "failed_create_keeps_its_id", test_failed_create_keeps_its_id },
	{ "guest_memory_is_not_inherited_by_fork", test_guest_memory_is_not_inherited_by_fork },
	{ "error_exits_keep_their_data", test_error_exits_keep_their_data },
	{ "a_full_log_is_never_cut_short", test_a_full_log_is_never_cut_short },
	{ "bench_loop_times_out", test_bench_loop_times_out },
	{ "kicks_under_load", test_kicks_under_load },
	{ "litmus_pins_within_the_allowed_cpus", test_litmus_pins_within_the_allowed_cpus },
	{ "virtio_race_pins_within_the_allowed_cpus",
	  test_virtio_race_pins_within_the_allowed_cpus },
	{ "wakeup_handshakes_account_for_every_sleep",
	  test_wakeup_handshakes_account_for_every_sleep },
	{ "signal_lab_in_a_single_threaded_child", test_signal_lab_in_a_single_threaded_child },
	{ "ioapic_write_beside_a_running_vcpu", test_ioapic_write_beside_a_running_vcpu },
};

int main(int argc, char **argv)
{
	size_t i;
	int failed = 0, ran = 0;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int r;

		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		why[0] = 0;
		r = tests[i].fn();
		ran++;
		if (r == PASS)
			printf("ok    %s\n", tests[i].name);
		else if (r == SKIP)
			printf("skip  %s: %s\n", tests[i].name, why);
		else
			printf("FAIL  %s: %s\n", tests[i].name, why);
		failed += r == FAIL;
		fflush(stdout);
	}
	printf("%d of %d native tests failed\n", failed, ran);
	return failed ? 1 : 0;
}
