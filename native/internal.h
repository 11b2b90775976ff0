/*
 * internal.h - what the native files share but Python never sees.
 */
#ifndef HVR_INTERNAL_H
#define HVR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <linux/kvm.h>

#include "hvr.h"

#define HVR_LOG_MAX 4096

struct hvr_vm {
	int kvm_fd;
	int vm_fd;
	uint8_t *mem;
	uint64_t mem_size;
	int run_size;
	struct hvr_vcpu *vcpus[4];
	int nvcpus;
};

struct hvr_vcpu {
	struct hvr_vm *vm;
	int fd;
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
	int stop_reason;        /* why the loop last stopped             */
	volatile int kick;      /* controller: leave KVM_RUN now         */
	char error[256];

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
	uint32_t nlog;
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
int hvr_guest__find(const char *name, const uint8_t **code, size_t *len);
int hvr_cpu__pin_self(int cpu);
uint64_t hvr_clock__ns(void);

#endif
