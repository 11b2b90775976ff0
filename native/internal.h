/*
 * internal.h - what the native files share but Python never sees.
 */
#ifndef HVR_INTERNAL_H
#define HVR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <linux/kvm.h>

#include "hvr.h"

#define HVR_MAX_VCPUS 4
#define HVR_ERROR_MAX 512

/*
 * A VM lives until its owner has destroyed it and the last vCPU thread that
 * could not be stopped at once (one inside a slow port callback) has left:
 * each such thread holds a reference, so guest memory and the VM's fds stay
 * valid under it.
 */
struct hvr_vm {
	int kvm_fd;
	int vm_fd;
	uint8_t *mem;
	uint64_t mem_size;
	int run_size;
	int refs;                       /* owner + orphaned vCPU threads (atomic) */
	pthread_mutex_t lock;           /* guards vcpus[] and nvcpus              */
	struct hvr_vcpu *vcpus[HVR_MAX_VCPUS];
	int nvcpus;
	/* KVM vCPU fds by id. KVM never frees a vCPU id, so one whose set-up
	 * failed after KVM_CREATE_VCPU is kept here and reused by the next create. */
	int vcpu_fd[HVR_MAX_VCPUS];
};

struct hvr_vcpu {
	struct hvr_vm *vm;
	int fd;                 /* borrowed from vm->vcpu_fd[id]          */
	int id;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;

	/* The controller and the vCPU thread meet under this lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int want_run;           /* controller: please run the guest      */
	int running;            /* vCPU thread: inside the KVM_RUN loop  */
	int quit;               /* controller: leave the thread          */
	int closing;            /* the VM is going away: never run again */
	int exited;             /* vCPU thread: it has left its loop      */
	int orphan;             /* the thread frees the vCPU when it leaves */
	int stop_reason;        /* why the loop last stopped             */
	int kick;               /* controller: leave KVM_RUN now (atomic) */
	int in_callback;        /* vCPU thread: inside the port callback (atomic) */
	char error[HVR_ERROR_MAX];
	struct hvr_exit_info last_exit;  /* the exit that stopped it with an error */

	/* Port routing and the host's side of the command mailbox. */
	uint8_t route[HVR_NPORTS];
	hvr_io_fn callback;
	void *callback_user;
	int cmd_posted;
	uint32_t cmd, arg;
	int cmd_in_pending;     /* the guest sits in an IN from the CMD port */

	/* What the guest told us. */
	uint64_t done_value;
	uint64_t count;
	uint64_t exits;
	uint32_t log[HVR_LOG_MAX];
	uint64_t nlog;          /* values logged; only the first HVR_LOG_MAX are kept */
};

/*
 * A store-buffering arena: the leader (the device, or litmus thread 0) and
 * the follower (the driver, or litmus thread 1) each store to their own
 * variable and load the other's, one instance per cache line.
 */
struct hvr_sb_arena {
	uint8_t *base;
	uint32_t instances;
	uint32_t lead_old, lead_new;     /* the leader's variable: before, after   */
	uint32_t follow_old, follow_new; /* the follower's variable: before, after */
	int lead_fence;                  /* mfence between the leader's store, load */
	int follow_fence;                /* ...and between the follower's          */
	int leader_cpu;
	uint32_t timeout_ms;
};

int hvr_sb__check(uint64_t iterations, uint32_t instances);
void hvr_sb__setup(struct hvr_sb_arena *a);
int hvr_sb__lead(struct hvr_sb_arena *a, uint64_t rounds, struct hvr_sb_counts *out);
void hvr_sb__stop(struct hvr_sb_arena *a);

int hvr_error__set(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hvr_vcpu__destroy(struct hvr_vcpu *vcpu);
void hvr_vcpu__close(struct hvr_vcpu *vcpu);
int hvr_vcpu__handle_exit(struct hvr_vcpu *vcpu);
int hvr_vcpu__kick_signal(void);
void hvr_vm__put(struct hvr_vm *vm);
int hvr_guest__find(const char *name, const uint8_t **code, size_t *len);
int hvr_cpu__pin_self(int cpu);
int hvr_cpu__allowed(int *cpus, int max);
uint64_t hvr_clock__ns(void);
void hvr_clock__deadline(struct timespec *ts, clockid_t clock, uint32_t ms);
void hvr_clock__deadline_us(struct timespec *ts, clockid_t clock, uint64_t us);

#endif
