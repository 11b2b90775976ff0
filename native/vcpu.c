/*
 * vcpu.c - a vCPU and the host thread that runs it.
 *
 * The thread sits parked until the controller (the Python caller) asks it to
 * run; it then loops on KVM_RUN and hands each exit to a small handler. It
 * parks again when the guest finishes, waits for a command, or is kicked:
 * the controller sets kvm_run.immediate_exit and sends a signal whose
 * handler is installed without SA_RESTART, so KVM_RUN returns -EINTR even
 * while the guest is halted inside the kernel. A parked vCPU keeps its
 * architectural state (a halted guest stays halted), and that is when the
 * controller reads its LAPIC and MP state.
 *
 * Closing: hvr_vcpu__close marks the vCPU `closing` and kicks it; it never
 * runs the guest or calls the callback again. hvr_vcpu__destroy then waits a
 * bounded time for the thread to leave. A thread inside a port callback
 * cannot be interrupted, so it is orphaned instead: it frees the vCPU itself
 * when the callback returns (holding a VM reference until then).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define GDT_GPA   0x5000
#define TSS_GPA   0x6000
#define STACK_TOP 0x80000
#define RSP0_TOP  0x90000
#define PML4_GPA  0x1000

#define SEL_CODE0 0x08
#define SEL_DATA0 0x10
#define SEL_CODE3 0x1b
#define SEL_DATA3 0x23
#define SEL_TSS   0x28

#define KICK_TRIES 50
#define KICK_WAIT_MS 100
#define DESTROY_WAIT_MS 2000

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int live_threads;        /* vCPU threads not yet gone (atomic) */

static int kick_signal(void)
{
	return SIGRTMIN + 3;
}

static void kick__handler(int sig)
{
	(void)sig;      /* its only job is to make KVM_RUN return -EINTR */
}

static void kick__install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick__handler;
	sa.sa_flags = 0;        /* no SA_RESTART: KVM_RUN must come back */
	sigemptyset(&sa.sa_mask);
	sigaction(kick_signal(), &sa, NULL);
}

/* The kick signal, its (empty) handler installed: bench.c kicks its own loop too. */
int hvr_vcpu__kick_signal(void)
{
	pthread_once(&kick_once, kick__install);
	return kick_signal();
}

/* The flags the vCPU thread reads without the lock (kick, closing, in_callback):
 * every access is atomic, so none is torn or hoisted out of a loop. */
static int flag(int *f)
{
	return __atomic_load_n(f, __ATOMIC_SEQ_CST);
}

static void set_flag(int *f, int v)
{
	__atomic_store_n(f, v, __ATOMIC_SEQ_CST);
}

/* ---- descriptor tables and registers: straight into 64-bit mode ---- */

static void vcpu__write_tables(struct hvr_vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->mem + GDT_GPA);
	uint8_t *tss = vm->mem + TSS_GPA;
	uint64_t rsp0 = RSP0_TOP;
	uint16_t iomap = 0x68;

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull;        /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffull;        /* data, DPL 0        */
	gdt[3] = 0x00affa000000ffffull;        /* 64-bit code, DPL 3 */
	gdt[4] = 0x00cff2000000ffffull;        /* data, DPL 3        */
	gdt[5] = 0x0000890000000067ull | ((uint64_t)TSS_GPA << 16);
	gdt[6] = 0;                            /* upper half of the TSS descriptor */
	memset(tss, 0, 0x68);
	memcpy(tss + 4, &rsp0, sizeof(rsp0));
	memcpy(tss + 0x66, &iomap, sizeof(iomap));
}

static struct kvm_segment vcpu__segment(uint16_t sel, int code)
{
	struct kvm_segment s;

	memset(&s, 0, sizeof(s));
	s.selector = sel;
	s.limit = 0xffffffff;
	s.present = 1;
	s.s = 1;
	s.g = 1;
	s.dpl = sel & 3;
	s.type = code ? 11 : 3;
	s.l = code;
	s.db = !code;
	return s;
}

static int vcpu__set_long_mode(struct hvr_vcpu *vcpu, int ring3)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return hvr_error__set(errno, "KVM_GET_SREGS: %s", strerror(errno));
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = (1u << 5) | (1u << 9) | (1u << 10);         /* PAE, OSFXSR, OSXMMEXCPT */
	sregs.cr0 = 0x80050033;                                 /* PG, AM, WP, NE, ET, MP, PE */
	sregs.efer = (1u << 8) | (1u << 10);                    /* LME, LMA */
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 7 * 8 - 1;
	sregs.cs = vcpu__segment(ring3 ? SEL_CODE3 : SEL_CODE0, 1);
	sregs.ds = vcpu__segment(ring3 ? SEL_DATA3 : SEL_DATA0, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.base = TSS_GPA;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return hvr_error__set(errno, "KVM_SET_SREGS: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = HVR_GUEST_ENTRY;
	regs.rsp = STACK_TOP;
	regs.rflags = ring3 ? 0x3002 : 0x2;                     /* IOPL 3 lets ring 3 use in/out */
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return hvr_error__set(errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

/* ---- port I/O: a C fast path and a Python callback path ---- */

static int vcpu__fail(struct hvr_vcpu *vcpu, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int vcpu__fail(struct hvr_vcpu *vcpu, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vcpu->error, sizeof(vcpu->error), fmt, ap);
	va_end(ap);
	return HVR_STOP_ERROR;
}

static int vcpu__io_callback(struct hvr_vcpu *vcpu, uint16_t port, int out, uint32_t *value)
{
	int ret;

	if (!vcpu->callback)
		return vcpu__fail(vcpu, "port 0x%x is routed to Python but no callback is set", port);
	/*
	 * in_callback is raised before closing is read, and hvr_vcpu__close raises
	 * closing before it reads in_callback: so either this thread sees the
	 * close and never calls back, or the closer sees it inside the callback
	 * and leaves it to free itself (hvr_vcpu__destroy).
	 */
	set_flag(&vcpu->in_callback, 1);
	if (flag(&vcpu->closing)) {
		set_flag(&vcpu->in_callback, 0);
		return HVR_STOP_KICKED;
	}
	ret = vcpu->callback(vcpu->callback_user, port, out, value);
	set_flag(&vcpu->in_callback, 0);
	if (ret < 0)
		return vcpu__fail(vcpu, "the port 0x%x callback failed (%d)", port, ret);
	return ret ? HVR_STOP_CALLBACK : HVR_STOP_NONE;
}

/* Hand the posted command to a guest that sits in `in` from the CMD port. */
static int vcpu__deliver_cmd(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t cmd;
	int posted;

	pthread_mutex_lock(&vcpu->lock);
	posted = vcpu->cmd_posted;
	cmd = vcpu->cmd;
	vcpu->cmd_posted = 0;
	pthread_mutex_unlock(&vcpu->lock);
	if (!posted)
		return HVR_STOP_WAIT_CMD;
	memcpy((uint8_t *)run + run->io.data_offset, &cmd, run->io.size);
	vcpu->cmd_in_pending = 0;
	return HVR_STOP_NONE;
}

static int vcpu__io_c(struct hvr_vcpu *vcpu, uint16_t port, int out, uint32_t *value)
{
	switch (port) {
	case HVR_PORT_DONE:
		vcpu->done_value = *value;
		return HVR_STOP_DONE;
	case HVR_PORT_LOG:
		/* Count every value, keep the first HVR_LOG_MAX: a longer log is
		 * reported as such by hvr_vcpu__log, never passed off as complete. */
		if (vcpu->nlog < HVR_LOG_MAX)
			vcpu->log[vcpu->nlog] = *value;
		vcpu->nlog++;
		return HVR_STOP_NONE;
	case HVR_PORT_CMD:
		if (out)
			return vcpu__fail(vcpu, "the guest wrote to the command port");
		vcpu->cmd_in_pending = 1;
		return vcpu__deliver_cmd(vcpu);
	case HVR_PORT_ARG:
		*value = vcpu->arg;
		return HVR_STOP_NONE;
	case HVR_PORT_COUNT:
		vcpu->count++;
		return HVR_STOP_NONE;
	case HVR_PORT_FAULT:
		return vcpu__fail(vcpu, "the guest took exception %u", *value & 0xff);
	default:
		return vcpu__fail(vcpu, "unexpected port I/O: %s port 0x%x",
				  out ? "out to" : "in from", port);
	}
}

/* A port access, whichever way it arrived (in/out or the MMIO doorbell). */
static int vcpu__port(struct hvr_vcpu *vcpu, uint16_t port, int out, uint32_t *value)
{
	if (port >= HVR_NPORTS)
		return vcpu__fail(vcpu, "unexpected access to port 0x%x", port);
	if (vcpu->route[port] == HVR_ROUTE_PYTHON)
		return vcpu__io_callback(vcpu, port, out, value);
	return vcpu__io_c(vcpu, port, out, value);
}

static int vcpu__handle_io(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int out = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t value = 0;
	int ret;

	if (run->io.count != 1 || run->io.size > 4)
		return vcpu__fail(vcpu, "string port I/O on port 0x%x is not supported",
				  run->io.port);
	if (out)
		memcpy(&value, data, run->io.size);
	ret = vcpu__port(vcpu, run->io.port, out, &value);
	if (!out && run->io.port != HVR_PORT_CMD)
		memcpy(data, &value, run->io.size);
	return ret;
}

static int vcpu__handle_mmio(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint64_t offset = run->mmio.phys_addr - HVR_MMIO_DOORBELL;
	uint32_t value = 0;
	int ret;

	if (run->mmio.phys_addr < HVR_MMIO_DOORBELL || offset >= 4 * HVR_NPORTS ||
	    (offset & 3) || run->mmio.len != 4)
		return vcpu__fail(vcpu, "the guest touched unbacked address 0x%llx",
				  (unsigned long long)run->mmio.phys_addr);
	if (offset / 4 == HVR_PORT_CMD)
		return vcpu__fail(vcpu, "the command port has no doorbell");
	if (run->mmio.is_write)
		memcpy(&value, run->mmio.data, 4);
	ret = vcpu__port(vcpu, (uint16_t)(offset / 4), run->mmio.is_write, &value);
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &value, 4);
	return ret;
}

/* ---- exits that end in an error keep their data ---- */

static const char *vcpu__suberror(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "an exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "an event could not be delivered";
	default:
		return "unknown suberror";
	}
}

/* Keep the exit whole in last_exit; say what it was, its data words included. */
static int vcpu__fail_exit(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct hvr_exit_info *x = &vcpu->last_exit;
	char words[16 * 20 + 1] = "";
	size_t len = 0;
	uint32_t i;

	memset(x, 0, sizeof(*x));
	x->reason = run->exit_reason;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		x->suberror = run->internal.suberror;
		x->ndata = run->internal.ndata < 16 ? run->internal.ndata : 16;
		memcpy(x->data, run->internal.data, x->ndata * sizeof(x->data[0]));
	} else if (run->exit_reason == KVM_EXIT_UNKNOWN) {
		x->ndata = 1;
		x->data[0] = run->hw.hardware_exit_reason;
	} else {
		x->ndata = 16;  /* an exit we do not know: its union's first bytes, raw */
		memcpy(x->data, run->padding, sizeof(x->data));
	}
	for (i = 0; i < x->ndata && len < sizeof(words) - 1; i++)
		len += snprintf(words + len, sizeof(words) - len, " 0x%llx",
				(unsigned long long)x->data[i]);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		return vcpu__fail(vcpu, "KVM internal error: %s (suberror %u); %u data word(s):%s",
				  vcpu__suberror(x->suberror), x->suberror, x->ndata, words);
	if (run->exit_reason == KVM_EXIT_UNKNOWN)
		return vcpu__fail(vcpu, "unknown VM exit: hardware exit reason 0x%llx",
				  (unsigned long long)x->data[0]);
	return vcpu__fail(vcpu, "unexpected exit reason %u; data:%s", x->reason, words);
}

/* ---- the KVM_RUN loop ---- */

int hvr_vcpu__handle_exit(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vcpu__handle_io(vcpu);
	case KVM_EXIT_INTR:
		return flag(&vcpu->kick) ? HVR_STOP_KICKED : HVR_STOP_NONE;
	case KVM_EXIT_HLT:
		return vcpu__fail(vcpu, "the guest halted outside the in-kernel irqchip");
	case KVM_EXIT_MMIO:
		return vcpu__handle_mmio(vcpu);
	case KVM_EXIT_SHUTDOWN:
		return vcpu__fail(vcpu, "the guest shut down (triple fault)");
	case KVM_EXIT_FAIL_ENTRY:
		return vcpu__fail(vcpu, "VM entry failed (reason 0x%llx)", (unsigned long long)
				  run->fail_entry.hardware_entry_failure_reason);
	default:        /* KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_UNKNOWN, anything else */
		return vcpu__fail_exit(vcpu);
	}
}

static int vcpu__loop(struct hvr_vcpu *vcpu)
{
	int ret;

	if (vcpu->cmd_in_pending) {
		ret = vcpu__deliver_cmd(vcpu);
		if (ret != HVR_STOP_NONE)
			return ret;
	}
	for (;;) {
		/* A kick or a close that came before this entry. (One that comes
		 * later is caught by immediate_exit or by the signal.) */
		if (flag(&vcpu->kick) || flag(&vcpu->closing))
			return HVR_STOP_KICKED;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN)
				return vcpu__fail(vcpu, "KVM_RUN: %s", strerror(errno));
			continue;
		}
		vcpu->exits++;
		ret = hvr_vcpu__handle_exit(vcpu);
		if (ret != HVR_STOP_NONE)
			return ret;
	}
}

static void vcpu__block_signals(void)
{
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, kick_signal());
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
}

static void vcpu__free(struct hvr_vcpu *vcpu)
{
	if (vcpu->run != MAP_FAILED)
		munmap(vcpu->run, vcpu->vm->run_size);
	pthread_cond_destroy(&vcpu->cond);
	pthread_mutex_destroy(&vcpu->lock);
	free(vcpu);
}

static void *vcpu__thread(void *arg)
{
	struct hvr_vcpu *vcpu = arg;
	struct hvr_vm *vm = vcpu->vm;
	int reason, orphan;

	vcpu__block_signals();
	pthread_mutex_lock(&vcpu->lock);
	for (;;) {
		while (!vcpu->want_run && !vcpu->quit)
			pthread_cond_wait(&vcpu->cond, &vcpu->lock);
		if (vcpu->quit)
			break;
		vcpu->running = 1;
		pthread_mutex_unlock(&vcpu->lock);
		reason = vcpu__loop(vcpu);
		pthread_mutex_lock(&vcpu->lock);
		vcpu->running = 0;
		vcpu->want_run = 0;
		vcpu->stop_reason = reason;
		pthread_cond_broadcast(&vcpu->cond);
	}
	vcpu->exited = 1;
	orphan = vcpu->orphan;
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
	if (orphan) {           /* its VM was destroyed without it: free what it held */
		vcpu__free(vcpu);
		hvr_vm__put(vm);
	}
	__atomic_sub_fetch(&live_threads, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* ---- the controller's side ---- */

static void vcpu__init_sync(struct hvr_vcpu *vcpu)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vcpu->cond, &attr);
	pthread_condattr_destroy(&attr);
}

static int vcpu__create_locked(struct hvr_vm *vm, struct hvr_vcpu **out, uint32_t flags)
{
	struct hvr_vcpu *vcpu;
	int ret, err, id = vm->nvcpus;

	if (id >= HVR_MAX_VCPUS)
		return hvr_error__set(ENOSPC, "this VM already has %d vCPUs", id);
	pthread_once(&kick_once, kick__install);
	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return hvr_error__set(ENOMEM, "out of memory");
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = MAP_FAILED;
	vcpu__init_sync(vcpu);
	/* KVM keeps a vCPU id until the VM goes: reuse the one a failed create left. */
	if (vm->vcpu_fd[id] < 0) {
		vm->vcpu_fd[id] = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
		if (vm->vcpu_fd[id] < 0) {
			ret = hvr_error__set(errno, "KVM_CREATE_VCPU: %s", strerror(errno));
			goto fail;
		}
	}
	vcpu->fd = vm->vcpu_fd[id];
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = hvr_error__set(errno, "cannot map kvm_run: %s", strerror(errno));
		goto fail;
	}
	vcpu__write_tables(vm);
	ret = vcpu__set_long_mode(vcpu, flags & HVR_VCPU_RING3);
	if (ret)
		goto fail;
	__atomic_add_fetch(&live_threads, 1, __ATOMIC_SEQ_CST);
	err = pthread_create(&vcpu->thread, NULL, vcpu__thread, vcpu);
	if (err) {
		__atomic_sub_fetch(&live_threads, 1, __ATOMIC_SEQ_CST);
		ret = hvr_error__set(err, "cannot start the vCPU thread: %s", strerror(err));
		goto fail;
	}
	vcpu->thread_started = 1;
	vm->vcpus[vm->nvcpus++] = vcpu;
	*out = vcpu;
	return 0;
fail:
	vcpu__free(vcpu);
	return ret;
}

int hvr_vcpu__create(struct hvr_vm *vm, struct hvr_vcpu **out, uint32_t flags)
{
	int ret;

	*out = NULL;
	pthread_mutex_lock(&vm->lock);
	ret = vcpu__create_locked(vm, out, flags);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

static int vcpu__busy(struct hvr_vcpu *vcpu)
{
	return vcpu->want_run || vcpu->running;
}

/*
 * Wait, holding the lock, until the vCPU thread is parked: 0, or -ETIMEDOUT,
 * or -ESHUTDOWN when the VM is closing and the thread is inside a port
 * callback (it cannot park before the callback returns, and the closer does
 * not wait for that). Waits in slices, so a close is noticed promptly.
 */
static int vcpu__wait_parked(struct hvr_vcpu *vcpu, uint32_t ms)
{
	uint64_t deadline = hvr_clock__ns() + (uint64_t)ms * 1000000ull;
	struct timespec slice;

	while (vcpu__busy(vcpu)) {
		uint64_t now = hvr_clock__ns();
		uint64_t left_ms;

		if (vcpu->closing && flag(&vcpu->in_callback))
			return hvr_error__set(ESHUTDOWN, "the VM was closed while its vCPU was "
					      "inside a port callback");
		if (now >= deadline)
			return -ETIMEDOUT;
		left_ms = (deadline - now + 999999) / 1000000;
		hvr_clock__deadline(&slice, CLOCK_MONOTONIC,
				    left_ms < KICK_WAIT_MS ? (uint32_t)left_ms : KICK_WAIT_MS);
		pthread_cond_timedwait(&vcpu->cond, &vcpu->lock, &slice);
	}
	return 0;
}

/* Ask the thread to leave KVM_RUN: the flag it checks, immediate_exit for the
 * next entry, and the signal for an entry already made. Holding the lock. */
static void vcpu__request_exit(struct hvr_vcpu *vcpu)
{
	set_flag(&vcpu->kick, 1);
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started && !vcpu->exited)
		pthread_kill(vcpu->thread, kick_signal());
}

static int vcpu__kick_locked(struct hvr_vcpu *vcpu)
{
	int i, ret = 0;

	if (!vcpu__busy(vcpu))
		return 0;
	for (i = 0; i < KICK_TRIES; i++) {
		vcpu__request_exit(vcpu);
		ret = vcpu__wait_parked(vcpu, KICK_WAIT_MS);
		if (ret != -ETIMEDOUT)
			break;
	}
	if (!vcpu->closing) {   /* a closing vCPU stays kicked for good */
		set_flag(&vcpu->kick, 0);
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	}
	if (ret == -ETIMEDOUT && flag(&vcpu->in_callback))
		return hvr_error__set(ETIMEDOUT, "the vCPU is still inside its port callback "
				      "after %d ms", KICK_TRIES * KICK_WAIT_MS);
	if (ret == -ETIMEDOUT)
		return hvr_error__set(ETIMEDOUT, "the vCPU thread did not leave KVM_RUN "
				      "after %d kicks", KICK_TRIES);
	return ret;
}

/* Stop the vCPU for good, without waiting: it never runs the guest or calls
 * back again, and its thread leaves as soon as it can. */
void hvr_vcpu__close(struct hvr_vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->lock);
	set_flag(&vcpu->closing, 1);
	vcpu->quit = 1;
	vcpu__request_exit(vcpu);
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

/*
 * Close the vCPU and free it once its thread has left - or, if the thread is
 * inside a port callback (or is the caller: a callback closing its own VM),
 * or does not leave in time, orphan it: the thread frees the vCPU itself and
 * drops the VM reference taken here.
 */
void hvr_vcpu__destroy(struct hvr_vcpu *vcpu)
{
	uint64_t deadline = hvr_clock__ns() + DESTROY_WAIT_MS * 1000000ull;
	struct timespec slice;

	if (!vcpu)
		return;
	if (!vcpu->thread_started) {
		vcpu__free(vcpu);
		return;
	}
	hvr_vcpu__close(vcpu);
	pthread_mutex_lock(&vcpu->lock);
	while (!vcpu->exited && !pthread_equal(pthread_self(), vcpu->thread) &&
	       !flag(&vcpu->in_callback) && hvr_clock__ns() < deadline) {
		vcpu__request_exit(vcpu);
		hvr_clock__deadline(&slice, CLOCK_MONOTONIC, KICK_WAIT_MS);
		pthread_cond_timedwait(&vcpu->cond, &vcpu->lock, &slice);
	}
	if (!vcpu->exited) {
		vcpu->orphan = 1;
		__atomic_add_fetch(&vcpu->vm->refs, 1, __ATOMIC_ACQ_REL);
		pthread_detach(vcpu->thread);   /* under the lock: it cannot be gone yet */
		pthread_mutex_unlock(&vcpu->lock);
		return;
	}
	pthread_mutex_unlock(&vcpu->lock);
	pthread_join(vcpu->thread, NULL);
	vcpu__free(vcpu);
}

/* Routing and the callback change only while the thread is parked (it reads them
 * without the lock while it runs). */
static int vcpu__require_parked_locked(struct hvr_vcpu *vcpu)
{
	if (vcpu__busy(vcpu))
		return hvr_error__set(EBUSY, "the vCPU is running; kick it first");
	return 0;
}

int hvr_vcpu__route(struct hvr_vcpu *vcpu, uint32_t port, uint32_t route)
{
	int ret;

	if (port >= HVR_NPORTS)
		return hvr_error__set(EINVAL, "port 0x%x is outside the protocol range "
				      "(0x0-0x%x)", port, HVR_NPORTS - 1);
	if (route != HVR_ROUTE_C && route != HVR_ROUTE_PYTHON)
		return hvr_error__set(EINVAL, "unknown route %u", route);
	pthread_mutex_lock(&vcpu->lock);
	ret = vcpu__require_parked_locked(vcpu);
	if (!ret)
		vcpu->route[port] = route;
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

int hvr_vcpu__set_callback(struct hvr_vcpu *vcpu, hvr_io_fn fn, void *user)
{
	int ret;

	pthread_mutex_lock(&vcpu->lock);
	ret = vcpu__require_parked_locked(vcpu);
	if (!ret) {
		vcpu->callback = fn;
		vcpu->callback_user = user;
	}
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

int hvr_vcpu__pin(struct hvr_vcpu *vcpu, int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return hvr_error__set(errno, "sched_getaffinity: %s", strerror(errno));
	} else if (cpu >= CPU_SETSIZE) {
		return hvr_error__set(EINVAL, "CPU %d is out of range", cpu);
	} else {
		CPU_SET(cpu, &set);
	}
	err = pthread_setaffinity_np(vcpu->thread, sizeof(set), &set);
	if (err)
		return hvr_error__set(err, "cannot pin the vCPU thread to CPU %d: %s",
				      cpu, strerror(err));
	return 0;
}

int hvr_vcpu__post_cmd(struct hvr_vcpu *vcpu, uint32_t cmd, uint32_t arg)
{
	pthread_mutex_lock(&vcpu->lock);
	vcpu->cmd = cmd;
	vcpu->arg = arg;
	vcpu->cmd_posted = 1;
	pthread_mutex_unlock(&vcpu->lock);
	return 0;
}

int hvr_vcpu__resume(struct hvr_vcpu *vcpu)
{
	int ret = 0;

	pthread_mutex_lock(&vcpu->lock);
	if (vcpu->closing)
		ret = hvr_error__set(ESHUTDOWN, "the vCPU's VM is closed");
	else if (vcpu__busy(vcpu))
		ret = hvr_error__set(EBUSY, "the vCPU is already running");
	else if (vcpu->stop_reason == HVR_STOP_ERROR)
		ret = hvr_error__set(EIO, "the vCPU stopped on an error: %s", vcpu->error);
	if (!ret) {
		vcpu->stop_reason = HVR_STOP_NONE;
		vcpu->want_run = 1;
		pthread_cond_broadcast(&vcpu->cond);
	}
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

static int vcpu__reason(struct hvr_vcpu *vcpu)
{
	if (vcpu->stop_reason == HVR_STOP_ERROR)
		return hvr_error__set(EIO, "%s", vcpu->error);
	return vcpu->stop_reason;
}

int hvr_vcpu__wait(struct hvr_vcpu *vcpu, uint32_t timeout_ms)
{
	int ret;

	pthread_mutex_lock(&vcpu->lock);
	ret = vcpu__wait_parked(vcpu, timeout_ms);
	if (ret == -ETIMEDOUT)
		ret = hvr_error__set(ETIMEDOUT, "the vCPU is still running after %u ms",
				     timeout_ms);
	else if (!ret)
		ret = vcpu__reason(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

int hvr_vcpu__kick(struct hvr_vcpu *vcpu)
{
	int ret;

	pthread_mutex_lock(&vcpu->lock);
	ret = vcpu__kick_locked(vcpu);
	if (!ret)
		ret = vcpu__reason(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

/* Run until the guest stops by itself or timeout_ms pass; then kick it. */
int hvr_vcpu__run(struct hvr_vcpu *vcpu, uint32_t timeout_ms)
{
	int ret = hvr_vcpu__resume(vcpu);

	if (ret)
		return ret;
	ret = hvr_vcpu__wait(vcpu, timeout_ms);
	if (ret == -ETIMEDOUT)
		ret = hvr_vcpu__kick(vcpu);
	return ret;
}

int hvr_vcpu__stop_reason(struct hvr_vcpu *vcpu)
{
	return vcpu->stop_reason;
}

const char *hvr_vcpu__error(struct hvr_vcpu *vcpu)
{
	return vcpu->error;
}

uint64_t hvr_vcpu__done_value(struct hvr_vcpu *vcpu)
{
	return vcpu->done_value;
}

uint64_t hvr_vcpu__count(struct hvr_vcpu *vcpu)
{
	return vcpu->count;
}

uint64_t hvr_vcpu__exits(struct hvr_vcpu *vcpu)
{
	return vcpu->exits;
}

/* vCPU threads alive in this process, orphans finishing a callback included. */
int hvr_vcpu__threads(void)
{
	return __atomic_load_n(&live_threads, __ATOMIC_SEQ_CST);
}

static int vcpu__require_parked(struct hvr_vcpu *vcpu)
{
	int ret;

	pthread_mutex_lock(&vcpu->lock);
	ret = vcpu__busy(vcpu) ? hvr_error__set(EBUSY, "the vCPU is running; kick it before "
						"reading it") : 0;
	pthread_mutex_unlock(&vcpu->lock);
	return ret;
}

int hvr_vcpu__log(struct hvr_vcpu *vcpu, uint32_t *buf, uint32_t max)
{
	int ret = vcpu__require_parked(vcpu);
	uint32_t n;

	if (ret)
		return ret;
	if (vcpu->nlog > HVR_LOG_MAX)
		return hvr_error__set(EOVERFLOW, "the guest logged %llu values; only the first "
				      "%d are kept", (unsigned long long)vcpu->nlog, HVR_LOG_MAX);
	n = vcpu->nlog < max ? (uint32_t)vcpu->nlog : max;
	memcpy(buf, vcpu->log, n * sizeof(uint32_t));
	return (int)vcpu->nlog;
}

int hvr_vcpu__exit_info(struct hvr_vcpu *vcpu, struct hvr_exit_info *out)
{
	int ret = vcpu__require_parked(vcpu);

	if (!ret)
		*out = vcpu->last_exit;
	return ret;
}

int hvr_vcpu__regs(struct hvr_vcpu *vcpu, struct hvr_regs *out)
{
	struct kvm_regs regs;
	int ret = vcpu__require_parked(vcpu);

	if (ret)
		return ret;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return hvr_error__set(errno, "KVM_GET_REGS: %s", strerror(errno));
	out->rax = regs.rax;
	out->rbx = regs.rbx;
	out->rcx = regs.rcx;
	out->rdx = regs.rdx;
	out->rsi = regs.rsi;
	out->rdi = regs.rdi;
	out->rsp = regs.rsp;
	out->rip = regs.rip;
	out->rflags = regs.rflags;
	return 0;
}

static uint32_t lapic__reg(const struct kvm_lapic_state *lapic, int offset)
{
	uint32_t v;

	memcpy(&v, lapic->regs + offset, sizeof(v));
	return v;
}

int hvr_vcpu__apic(struct hvr_vcpu *vcpu, struct hvr_apic_state *st)
{
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	int i, ret = vcpu__require_parked(vcpu);

	if (ret)
		return ret;
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return hvr_error__set(errno, "KVM_GET_LAPIC: %s", strerror(errno));
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		return hvr_error__set(errno, "KVM_GET_MP_STATE: %s", strerror(errno));
	for (i = 0; i < 8; i++) {
		st->isr[i] = lapic__reg(&lapic, 0x100 + 0x10 * i);
		st->irr[i] = lapic__reg(&lapic, 0x200 + 0x10 * i);
	}
	st->tpr = lapic__reg(&lapic, 0x80);
	st->ppr = lapic__reg(&lapic, 0xa0);
	st->svr = lapic__reg(&lapic, 0xf0);
	st->mp_state = mp.mp_state;
	return 0;
}
