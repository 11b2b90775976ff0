/*
 * hvr.h - the C interface of the Hypervisor Races real-machine backend.
 *
 * This file is read twice: by the C compiler (the .c files include it after
 * <stdint.h> and <stddef.h>) and by cffi as its cdef. So it holds nothing but
 * integer #defines, opaque struct declarations, plain structs and prototypes.
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * hvr_error__last() then describes the failure in one line. Nothing here
 * exits, aborts, or waits without a timeout.
 */

/* Guest-physical layout shared by the host and every guest (guests/guest.inc). */
#define HVR_GUEST_ENTRY      0x10000
#define HVR_GUEST_DATA       0x100000
#define HVR_GUEST_MIN_MEM    0x200000
#define HVR_GUEST_MAX_MEM    0x40000000

/* I/O ports of the guest/host protocol. */
#define HVR_PORT_DONE        0x10   /* out: the guest has finished          */
#define HVR_PORT_LOG         0x11   /* out: append a value to the log       */
#define HVR_PORT_CMD         0x12   /* in:  fetch the next host command     */
#define HVR_PORT_ARG         0x13   /* in:  fetch that command's argument   */
#define HVR_PORT_COUNT       0x14   /* out: one tick (benchmarks)           */
#define HVR_PORT_FAULT       0x15   /* out: the guest took an exception     */
#define HVR_PORT_USER        0x20   /* 0x20..0x3f: free for the callback    */
#define HVR_NPORTS           0x40

/* Values the host keeps from HVR_PORT_LOG; a guest that logs more is reported,
 * never silently cut short (hvr_vcpu__log fails with -EOVERFLOW). */
#define HVR_LOG_MAX          4096

/* Ring-3 guests cannot use in/out everywhere (a paravirtual host may refuse
 * IOPL 3), so every port also answers as a 4-byte MMIO doorbell register at
 * HVR_MMIO_DOORBELL + 4 * port, in memory no slot backs. */
#define HVR_MMIO_DOORBELL    0xc0000000

/* Where a port exit is handled. */
#define HVR_ROUTE_C          0
#define HVR_ROUTE_PYTHON     1

/* Why a vCPU thread stopped running the guest. */
#define HVR_STOP_NONE        0
#define HVR_STOP_DONE        1      /* guest wrote HVR_PORT_DONE            */
#define HVR_STOP_WAIT_CMD    2      /* guest waits for a command            */
#define HVR_STOP_KICKED      3      /* host kicked it out of KVM_RUN        */
#define HVR_STOP_CALLBACK    4      /* the Python callback asked to stop    */
#define HVR_STOP_ERROR       5      /* see hvr_vcpu__error()                */

/* The store-buffering arena: offsets from its base (HVR_GUEST_DATA in a guest). */
#define HVR_SB_GO            0x000  /* u64: round to run; all ones = stop   */
#define HVR_SB_DONE          0x040  /* u64: last round the follower ended   */
#define HVR_SB_LEAD_FENCE    0x080  /* u64: 1 = the leader fences (device)  */
#define HVR_SB_INSTANCES     0x088  /* u64: instances per round             */
#define HVR_SB_FOLLOW_NEW    0x090  /* u64: the value the follower stores   */
#define HVR_SB_FOLLOW_FENCE  0x098  /* u64: 1 = the follower fences (driver) */
#define HVR_SB_FOLLOW_TURN   0x100  /* u64: per-instance barrier, follower  */
#define HVR_SB_LEAD_TURN     0x140  /* u64: per-instance barrier, leader    */
#define HVR_SB_FOLLOW_VAR    0x1000 /* u32 per 64-byte line: avail flags    */
#define HVR_SB_LEAD_VAR      0x41000 /* u32 per 64-byte line: used idx       */
#define HVR_SB_FOLLOW_SAW    0x81000 /* u32 per instance: what it loaded     */
#define HVR_SB_LEAD_SAW      0x85000
#define HVR_SB_ARENA_SIZE    0x89000
#define HVR_SB_MAX_INSTANCES 4096
#define HVR_SB_MAX_ITERATIONS 0x10000000000  /* 2^40 instances per run */

/* vCPU flags. */
#define HVR_VCPU_RING3       1      /* start the guest at CPL 3 (IOPL 3)    */

/* KVM multiprocessing states, as KVM_GET_MP_STATE reports them. */
#define HVR_MP_RUNNABLE      0
#define HVR_MP_HALTED        3

struct hvr_vm;
struct hvr_vcpu;

/* A port exit handed to Python; return 0 to go on, 1 to stop, <0 for error. */
typedef int (*hvr_io_fn)(void *user, uint16_t port, int is_out, uint32_t *value);

struct hvr_apic_state {
	uint32_t irr[8];        /* bit v of irr[v / 32] = vector v requested  */
	uint32_t isr[8];        /* bit v of isr[v / 32] = vector v in service */
	uint32_t tpr;
	uint32_t ppr;
	uint32_t svr;
	uint32_t mp_state;
};

/* The exit that stopped a vCPU with an error, kept whole: for
 * KVM_EXIT_INTERNAL_ERROR its suberror and data words, for KVM_EXIT_UNKNOWN the
 * hardware exit reason in data[0], for any other exit the union's first words. */
struct hvr_exit_info {
	uint32_t reason;         /* kvm_run.exit_reason                       */
	uint32_t suberror;       /* KVM_EXIT_INTERNAL_ERROR only               */
	uint32_t ndata;          /* how many of data[] are meaningful          */
	uint32_t pad;
	uint64_t data[16];
};

struct hvr_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rip, rflags;
};

struct hvr_sb_counts {
	uint64_t none_stale;     /* both loads saw the other's store          */
	uint64_t follower_stale; /* only the follower loaded the old value    */
	uint64_t leader_stale;   /* only the leader loaded the old value      */
	uint64_t both_stale;     /* the store-buffering outcome               */
	uint64_t elapsed_ns;
};

/* errors */
const char *hvr_error__last(void);

/* /dev/kvm */
int hvr_kvm__check(void);

/* VM: in-kernel irqchip, one memory slot at guest-physical 0 (MADV_DONTFORK).
 * hvr_vm__stop stops every vCPU for good without waiting (calls waiting on
 * them return promptly, -ESHUTDOWN if a vCPU sits in its port callback);
 * hvr_vm__destroy stops them and frees the VM - except what a vCPU thread still
 * inside a port callback may touch: that thread frees it when the callback
 * returns. Call destroy once, with no other call on the VM in flight. */
int hvr_vm__create(struct hvr_vm **out, uint64_t mem_bytes);
void hvr_vm__destroy(struct hvr_vm *vm);
int hvr_vm__stop(struct hvr_vm *vm);
uint64_t hvr_vm__mem_size(struct hvr_vm *vm);
int hvr_vm__write(struct hvr_vm *vm, uint64_t gpa, const void *buf, uint64_t len);
int hvr_vm__read(struct hvr_vm *vm, uint64_t gpa, void *buf, uint64_t len);
int hvr_vm__load_guest(struct hvr_vm *vm, const char *name);
int hvr_vm__signal_msi(struct hvr_vm *vm, uint32_t apic_id, uint32_t vector);

/* vCPU: its own thread running the KVM_RUN loop. A failed create keeps its
 * KVM vCPU id for the next create. Routing and the callback change only while
 * the vCPU is parked. hvr_vcpu__log fails with -EOVERFLOW once the guest has
 * logged more than HVR_LOG_MAX values; hvr_vcpu__exit_info keeps the exit an
 * error stopped on; hvr_vcpu__threads counts vCPU threads still alive. */
int hvr_vcpu__create(struct hvr_vm *vm, struct hvr_vcpu **out, uint32_t flags);
int hvr_vcpu__route(struct hvr_vcpu *vcpu, uint32_t port, uint32_t route);
int hvr_vcpu__set_callback(struct hvr_vcpu *vcpu, hvr_io_fn fn, void *user);
int hvr_vcpu__pin(struct hvr_vcpu *vcpu, int cpu);
int hvr_vcpu__post_cmd(struct hvr_vcpu *vcpu, uint32_t cmd, uint32_t arg);
int hvr_vcpu__resume(struct hvr_vcpu *vcpu);
int hvr_vcpu__wait(struct hvr_vcpu *vcpu, uint32_t timeout_ms);
int hvr_vcpu__kick(struct hvr_vcpu *vcpu);
int hvr_vcpu__run(struct hvr_vcpu *vcpu, uint32_t timeout_ms);
int hvr_vcpu__stop_reason(struct hvr_vcpu *vcpu);
const char *hvr_vcpu__error(struct hvr_vcpu *vcpu);
uint64_t hvr_vcpu__done_value(struct hvr_vcpu *vcpu);
uint64_t hvr_vcpu__count(struct hvr_vcpu *vcpu);
uint64_t hvr_vcpu__exits(struct hvr_vcpu *vcpu);
int hvr_vcpu__log(struct hvr_vcpu *vcpu, uint32_t *buf, uint32_t max);
int hvr_vcpu__regs(struct hvr_vcpu *vcpu, struct hvr_regs *regs);
int hvr_vcpu__apic(struct hvr_vcpu *vcpu, struct hvr_apic_state *st);
int hvr_vcpu__exit_info(struct hvr_vcpu *vcpu, struct hvr_exit_info *out);
int hvr_vcpu__threads(void);

/* benchmarks: a plain C KVM_RUN loop on the calling thread, for at most timeout_ms */
int hvr_bench__io_loop(uint64_t exits, uint32_t timeout_ms, uint64_t *elapsed_ns);

/* store-buffer litmus: two pinned host threads, or the host against a guest.
 * Each side has its own mfence switch: the leader is the device (used idx,
 * then avail flags), the follower the driver (avail flags, then used idx). */
int hvr_litmus__sb(int lead_fence, int follow_fence, int virtio, uint64_t iterations,
		   uint32_t instances, struct hvr_sb_counts *out);
int hvr_race__virtio(struct hvr_vm *vm, struct hvr_vcpu *vcpu, int device_fence,
		     int driver_fence, uint64_t iterations, uint32_t instances,
		     struct hvr_sb_counts *out);

/* hyperkit #94's cancel protocol on real threads. It changes the process's signal
 * mask and SIGCONT's disposition, so it refuses (-EBUSY) unless the calling
 * process has a single thread: run it in a fresh process. */
struct hvr_signal_report {
	int32_t thread_directed_seen_by_m;   /* A: mevent's signalfd saw it (must not)  */
	int32_t thread_directed_pending_on_b;/* A: it was left pending on blkio        */
	int32_t process_directed_seen_by_m;  /* B: mevent's signalfd saw kill()'s      */
	int32_t read_errno;                  /* C: errno of blkio's interrupted read   */
	int32_t read_result;                 /* C: blkio's read() return value         */
	int32_t handler_ran;                 /* C: the SIGCONT handler ran             */
	int32_t handler_on_target;           /* C: ...on blkio itself                  */
	int32_t cancel_done_thread_directed; /* A: ioemu's wait ended (must not)       */
	int32_t cancel_done_process_directed;/* B: ioemu's wait ended                  */
	int32_t cancel_done_handler;         /* C: the handler's acknowledgement came  */
};
int hvr_signals__experiment(uint32_t timeout_ms, struct hvr_signal_report *out);

/* a lost wake-up on two pinned host threads (illumos #14026): the waker
 * broadcasts with or without the waiter's mutex; every wait is bounded */
struct hvr_wakeup_counts {
	uint64_t rounds;         /* handshakes run                                */
	uint64_t waited;         /* the waiter found the flag clear and slept     */
	uint64_t woken;          /* ...and the broadcast woke it                  */
	uint64_t lost;           /* ...and slept on: the broadcast returned before */
	                         /*    its deadline, yet it timed out              */
	uint64_t late;           /* ...its deadline came before the broadcast     */
	                         /*    returned                                    */
	int32_t waiter_cpu;      /* the CPUs the two threads were pinned to       */
	int32_t waker_cpu;
};
int hvr_wakeup__run(int locked, uint64_t rounds, uint32_t window, uint32_t timeout_us,
		    struct hvr_wakeup_counts *out);

/* OS-7622 on KVM (rendezvous.c, guests/ioapic_write.S): the guest's data words
 * and what each vCPU reports on HVR_PORT_DONE. */
#define HVR_IOAPIC_DEST        0x100000  /* u32: pin 6's destination APIC ID        */
#define HVR_IOAPIC_STARTED     0x100040  /* u32: the other vCPU set it: in the guest */
#define HVR_IOAPIC_GO          0x100080  /* u32: the host sets it: the other may end */
#define HVR_IOAPIC_WRITER_DONE 0x7622
#define HVR_IOAPIC_OTHER_DONE  0x7623
#define HVR_IOAPIC_PINS        24

int hvr_vcpu__make_runnable(struct hvr_vcpu *vcpu);
int hvr_vm__ioapic_entry(struct hvr_vm *vm, uint32_t pin, uint64_t *entry);
