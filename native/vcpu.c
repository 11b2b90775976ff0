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

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

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
	ret = vcpu->callback(vcpu->callback_user, port, out, value);
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
		if (vcpu->nlog < HVR_LOG_MAX)
			vcpu->log[vcpu->nlog++] = *value;
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

/* ---- the KVM_RUN loop ---- */

static int vcpu__handle_exit(struct hvr_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vcpu__handle_io(vcpu);
	case KVM_EXIT_INTR:
		return vcpu->kick ? HVR_STOP_KICKED : HVR_STOP_NONE;
	case KVM_EXIT_HLT:
		return vcpu__fail(vcpu, "the guest halted outside the in-kernel irqchip");
	case KVM_EXIT_MMIO:
		return vcpu__handle_mmio(vcpu);
	case KVM_EXIT_SHUTDOWN:
		return vcpu__fail(vcpu, "the guest shut down (triple fault)");
	case KVM_EXIT_FAIL_ENTRY:
		return vcpu__fail(vcpu, "VM entry failed (reason 0x%llx)", (unsigned long long)
				  run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return vcpu__fail(vcpu, "KVM internal error (suberror %u)",
				  run->internal.suberror);
	default:
		return vcpu__fail(vcpu, "unexpected exit reason %u", run->exit_reason);
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
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN)
				return vcpu__fail(vcpu, "KVM_RUN: %s", strerror(errno));
			if (vcpu->kick)
				return HVR_STOP_KICKED;
			continue;
		}
		vcpu->exits++;
		ret = vcpu__handle_exit(vcpu);
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

static void *vcpu__thread(void *arg)
{
	struct hvr_vcpu *vcpu = arg;
	int reason;

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
	pthread_mutex_unlock(&vcpu->lock);
	return NULL;
}

/* ---- the controller's side ---- */

static int vcpu__init_sync(struct hvr_vcpu *vcpu)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vcpu->cond, &attr);
	pthread_condattr_destroy(&attr);
	return 0;
}

int hvr_vcpu__create(struct hvr_vm *vm, struct hvr_vcpu **out, uint32_t flags)
{
	struct hvr_vcpu *vcpu;
	int ret, err;

	*out = NULL;
	if (vm->nvcpus >= (int)(sizeof(vm->vcpus) / sizeof(vm->vcpus[0])))
		return hvr_error__set(ENOSPC, "this VM already has %d vCPUs", vm->nvcpus);
	pthread_once(&kick_once, kick__install);
	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return hvr_error__set(ENOMEM, "out of memory");
	vcpu->vm = vm;
	vcpu->id = vm->nvcpus;
	vcpu->run = MAP_FAILED;
	vcpu__init_sync(vcpu);
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, vcpu->id);
	if (vcpu->fd < 0) {
		ret = hvr_error__set(errno, "KVM_CREATE_VCPU: %s", strerror(errno));
		goto fail;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = hvr_error__set(errno, "cannot map kvm_run: %s", strerror(errno));
		goto fail;
	}
	vcpu__write_tables(vm);
	ret = vcpu__set_long_mode(vcpu, flags & HVR_VCPU_RING3);
	if (ret)
		goto fail;
	err = pthread_create(&vcpu->thread, NULL, vcpu__thread, vcpu);
	if (err) {
		ret = hvr_error__set(err, "cannot start the vCPU thread: %s", strerror(err));
		goto fail;
	}
	vcpu->thread_started = 1;
	vm->vcpus[vm->nvcpus++] = vcpu;
	*out = vcpu;
	return 0;
fail:
	hvr_vcpu__destroy(vcpu);
	return ret;
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait, holding the lock, until the vCPU thread is parked; 0 or -ETIMEDOUT. */
static int vcpu__wait_parked(struct hvr_vcpu *vcpu, uint32_t ms)
{
	struct timespec deadline;

	deadline_after(&deadline, ms);
	while (vcpu->want_run || vcpu->running)
		if (pthread_cond_timedwait(&vcpu->cond, &vcpu->lock, &deadline) == ETIMEDOUT)
			return (vcpu->want_run || vcpu->running) ? -ETIMEDOUT : 0;
	return 0;
}

static int vcpu__kick_locked(struct hvr_vcpu *vcpu)
{
	int i, ret = 0;

	if (!vcpu->want_run && !vcpu->running)
		return 0;
	vcpu->kick = 1;
	vcpu->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < KICK_TRIES; i++) {
		pthread_kill(vcpu->thread, kick_signal());
		ret = vcpu__wait_parked(vcpu, KICK_WAIT_MS);
		if (!ret)
			break;
	}
	vcpu->kick = 0;
	vcpu->run->immediate_exit = 0;
	if (ret)
		return hvr_error__set(ETIMEDOUT, "the vCPU thread did not leave KVM_RUN "
				      "after %d kicks", KICK_TRIES);
	return 0;
}

void hvr_vcpu__destroy(struct hvr_vcpu *vcpu)
{
	struct timespec deadline;

	if (!vcpu)
		return;
	if (vcpu->thread_started) {
		pthread_mutex_lock(&vcpu->lock);
		vcpu__kick_locked(vcpu);
		vcpu->quit = 1;
		pthread_cond_broadcast(&vcpu->cond);
		pthread_mutex_unlock(&vcpu->lock);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 2;
		if (pthread_timedjoin_np(vcpu->thread, NULL, &deadline))
			return;         /* a thread we cannot stop keeps its memory */
	}
	if (vcpu->run != MAP_FAILED)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	pthread_cond_destroy(&vcpu->cond);
	pthread_mutex_destroy(&vcpu->lock);
	free(vcpu);
}

int hvr_vcpu__route(struct hvr_vcpu *vcpu, uint32_t port, uint32_t route)
{
	if (port >= HVR_NPORTS)
		return hvr_error__set(EINVAL, "port 0x%x is outside the protocol range "
				      "(0x0-0x%x)", port, HVR_NPORTS - 1);
	if (route != HVR_ROUTE_C && route != HVR_ROUTE_PYTHON)
		return hvr_error__set(EINVAL, "unknown route %u", route);
	vcpu->route[port] = route;
	return 0;
}

int hvr_vcpu__set_callback(struct hvr_vcpu *vcpu, hvr_io_fn fn, void *user)
{
	vcpu->callback = fn;
	vcpu->callback_user = user;
	return 0;
}

int hvr_vcpu__pin(struct hvr_vcpu *vcpu, int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return hvr_error__set(errno, "sched_getaffinity: %s", strerror(errno));
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
	if (vcpu->want_run || vcpu->running)
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
	if (ret)
		ret = hvr_error__set(ETIMEDOUT, "the vCPU is still running after %u ms",
				     timeout_ms);
	else
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

static int vcpu__require_parked(struct hvr_vcpu *vcpu)
{
	int busy;

	pthread_mutex_lock(&vcpu->lock);
	busy = vcpu->want_run || vcpu->running;
	pthread_mutex_unlock(&vcpu->lock);
	if (busy)
		return hvr_error__set(EBUSY, "the vCPU is running; kick it before reading it");
	return 0;
}

int hvr_vcpu__log(struct hvr_vcpu *vcpu, uint32_t *buf, uint32_t max)
{
	int ret = vcpu__require_parked(vcpu);
	uint32_t n;

	if (ret)
		return ret;
	n = vcpu->nlog < max ? vcpu->nlog : max;
	memcpy(buf, vcpu->log, n * sizeof(uint32_t));
	return (int)vcpu->nlog;
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
