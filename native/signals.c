/*
 * signals.c - where a signal goes, on the real host OS (hyperkit #94).
 *
 * Three facts, shown in a forked child so the caller's signal dispositions
 * and masks are never touched (the library may live in a Jupyter kernel):
 *  1. SIGCONT sent with pthread_kill() to thread B is pending on B only:
 *     a signalfd read in thread M does not see it. (hyperkit's mevent loop
 *     on macOS was M; blockif_cancel's pthread_kill was the signal.)
 *  2. A process-directed SIGCONT (kill) is seen by M's signalfd.
 *  3. B blocked in read() with a SIGCONT handler installed without
 *     SA_RESTART comes back with EINTR - what the illumos port relies on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct demo {
	uint32_t timeout_ms;
	sem_t b_ready, b_check, b_checked, b_start_read, b_reading, b_done;
	int pipe_fd[2];
	struct hvr_signal_report r;
};

static volatile sig_atomic_t handler_ran;

static void demo__handler(int sig)
{
	(void)sig;
	handler_ran = 1;
}

static void deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int sem_wait_ms(sem_t *sem, uint32_t ms)
{
	struct timespec ts;

	deadline_in(&ts, ms);
	while (sem_timedwait(sem, &ts) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Does M's signalfd deliver a SIGCONT within ms? */
static int signalfd_sees(int sfd, uint32_t ms)
{
	struct signalfd_siginfo info;
	struct pollfd p = { .fd = sfd, .events = POLLIN };

	if (poll(&p, 1, (int)ms) <= 0)
		return 0;
	return read(sfd, &info, sizeof(info)) == sizeof(info) && info.ssi_signo == SIGCONT;
}

static void *demo__thread_b(void *arg)
{
	struct demo *d = arg;
	sigset_t cont, pending;
	struct timespec zero = { 0, 0 };
	char byte;

	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	sem_post(&d->b_ready);
	if (sem_wait_ms(&d->b_check, d->timeout_ms))
		return NULL;
	sigpending(&pending);   /* thread-pending plus process-pending */
	d->r.thread_directed_pending_on_b = sigismember(&pending, SIGCONT);
	sigtimedwait(&cont, NULL, &zero);       /* consume it */
	sem_post(&d->b_checked);

	/* Part 3, once M is done with part 2: let SIGCONT in, block in read(). */
	if (sem_wait_ms(&d->b_start_read, d->timeout_ms))
		return NULL;
	pthread_sigmask(SIG_UNBLOCK, &cont, NULL);
	sem_post(&d->b_reading);
	d->r.read_result = (int32_t)read(d->pipe_fd[0], &byte, 1);
	d->r.read_errno = d->r.read_result < 0 ? errno : 0;
	sem_post(&d->b_done);
	return NULL;
}

static void demo__interrupt_read(struct demo *d, pthread_t b)
{
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = demo__handler;
	sa.sa_flags = 0;                /* deliberately no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCONT, &sa, NULL);
	sem_post(&d->b_start_read);
	if (sem_wait_ms(&d->b_reading, d->timeout_ms))
		return;
	for (i = 0; i < 20; i++) {
		pthread_kill(b, SIGCONT);
		if (!sem_wait_ms(&d->b_done, d->timeout_ms / 20 + 1))
			return;
	}
	if (write(d->pipe_fd[1], "x", 1) == 1)  /* give up: let read() finish normally */
		sem_wait_ms(&d->b_done, d->timeout_ms);
}

static void demo__run(struct demo *d)
{
	sigset_t cont;
	pthread_t b;
	int sfd;

	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	pthread_sigmask(SIG_BLOCK, &cont, NULL);        /* B inherits the mask */
	sfd = signalfd(-1, &cont, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || pthread_create(&b, NULL, demo__thread_b, d))
		return;
	sem_wait_ms(&d->b_ready, d->timeout_ms);

	pthread_kill(b, SIGCONT);                       /* thread-directed */
	d->r.thread_directed_seen_by_m = signalfd_sees(sfd, d->timeout_ms / 4);
	sem_post(&d->b_check);
	sem_wait_ms(&d->b_checked, d->timeout_ms);

	kill(getpid(), SIGCONT);                        /* process-directed */
	d->r.process_directed_seen_by_m = signalfd_sees(sfd, d->timeout_ms / 4);

	demo__interrupt_read(d, b);
	d->r.handler_ran = handler_ran;
}

static void demo__child(int out_fd, uint32_t timeout_ms)
{
	static struct demo d;
	ssize_t n;

	memset(&d, 0, sizeof(d));
	d.timeout_ms = timeout_ms;
	d.r.read_result = -2;
	sem_init(&d.b_ready, 0, 0);
	sem_init(&d.b_check, 0, 0);
	sem_init(&d.b_checked, 0, 0);
	sem_init(&d.b_start_read, 0, 0);
	sem_init(&d.b_reading, 0, 0);
	sem_init(&d.b_done, 0, 0);
	if (pipe(d.pipe_fd) == 0)
		demo__run(&d);
	n = write(out_fd, &d.r, sizeof(d.r));
	_exit(n == sizeof(d.r) ? 0 : 1);
}

int hvr_signals__demo(uint32_t timeout_ms, struct hvr_signal_report *out)
{
	struct pollfd p;
	int fds[2], status, ret = 0;
	pid_t child;

	if (timeout_ms < 100 || timeout_ms > 60000)
		return hvr_error__set(EINVAL, "timeout must be 100-60000 ms, not %u", timeout_ms);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return hvr_error__set(errno, "pipe: %s", strerror(errno));
	child = fork();
	if (child < 0) {
		ret = hvr_error__set(errno, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	if (child == 0)
		demo__child(fds[1], timeout_ms);        /* never returns */
	close(fds[1]);
	p.fd = fds[0];
	p.events = POLLIN;
	if (poll(&p, 1, (int)timeout_ms * 4) <= 0 || read(fds[0], out, sizeof(*out)) != sizeof(*out))
		ret = hvr_error__set(ETIMEDOUT, "the signal demo did not report within %u ms",
				     timeout_ms * 4);
	close(fds[0]);
	if (ret)
		kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return ret;
}
