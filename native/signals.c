/*
 * signals.c - hyperkit #94's cancel protocol on real threads of this host.
 *
 * Three threads play the report's actors: "ioemu" (the calling thread) cancels,
 * "blkio" sits in a blocking read() (its I/O), and "mevent" watches a signalfd
 * for SIGCONT - Linux's stand-in for a kqueue with EVFILT_SIGNAL - and runs the
 * handler's part: clear bse_pending and signal bse_cond. Three rounds:
 *
 *  A. ioemu sends SIGCONT to blkio with pthread_kill and waits for bse_pending
 *     to clear. The signal stays pending on blkio; mevent's signalfd never sees
 *     it; the wait ends only by its timeout. (macOS's hang: a wait forever.)
 *  B. ioemu sends SIGCONT to the process with kill(): mevent sees it, the wait
 *     ends. (What FreeBSD's kqueue does for every SIGCONT.)
 *  C. A real handler is installed without SA_RESTART and blkio lets SIGCONT in:
 *     pthread_kill(blkio) runs the handler on blkio, which acknowledges through
 *     a pipe, and blkio's read() returns EINTR. (bhyve's illumos port.)
 *
 * This changes the process's signal mask and SIGCONT's disposition, so it
 * refuses to run unless the process has exactly one thread - a fresh process
 * started for it (simulator.real.signals spawns one). Every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct cancel_lab {
	uint32_t timeout_ms;            /* bound for what must happen          */
	uint32_t quiet_ms;              /* how long to wait for what must not  */
	int sfd;                        /* mevent's signalfd for SIGCONT       */
	int io_pipe[2];                 /* blkio's "disk": it reads [0]        */
	int stop_pipe[2];               /* mevent leaves when [0] is readable  */
	int ack_pipe[2];                /* round C: the handler writes [1]     */
	pthread_mutex_t bse_mtx;
	pthread_cond_t bse_cond;
	int bse_pending;
	int mevent_seen;                /* SIGCONTs mevent's signalfd reported */
	pid_t blkio_tid;
	sem_t blkio_ready, blkio_checked, blkio_reading, blkio_done;
	struct hvr_signal_report r;
};

static struct cancel_lab *lab;          /* for the signal handler */
static volatile sig_atomic_t handler_tid;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int sem_wait_ms(sem_t *sem, uint32_t ms)
{
	struct timespec ts;

	hvr_clock__deadline(&ts, CLOCK_REALTIME, ms);
	while (sem_timedwait(sem, &ts) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Only async-signal-safe calls: note who ran it, acknowledge through a pipe. */
static void lab__sigcont_handler(int sig)
{
	int saved = errno;
	char ack = 'a';

	(void)sig;
	handler_tid = gettid_();
	if (write(lab->ack_pipe[1], &ack, 1) < 0)
		errno = saved;
	errno = saved;
}

/* mevent: wait on the signalfd; for each SIGCONT, the handler's part. */
static void *lab__mevent(void *arg)
{
	struct cancel_lab *l = arg;
	struct signalfd_siginfo info;
	struct pollfd p[2] = { { .fd = l->sfd, .events = POLLIN },
			       { .fd = l->stop_pipe[0], .events = POLLIN } };
	int i;

	/* Bounded: at most this many polls of timeout_ms each, then give up. */
	for (i = 0; i < 64; i++) {
		if (poll(p, 2, (int)l->timeout_ms) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		if (read(l->sfd, &info, sizeof(info)) != sizeof(info) || info.ssi_signo != SIGCONT)
			continue;
		pthread_mutex_lock(&l->bse_mtx);
		l->mevent_seen++;
		l->bse_pending = 0;
		pthread_cond_signal(&l->bse_cond);
		pthread_mutex_unlock(&l->bse_mtx);
	}
	return NULL;
}

/* blkio: a blocking read() is its I/O; in between, it answers questions. */
static void *lab__blkio(void *arg)
{
	struct cancel_lab *l = arg;
	sigset_t cont, pending;
	struct timespec zero = { 0, 0 };
	char byte;

	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	l->blkio_tid = gettid_();
	sem_post(&l->blkio_ready);

	/* Rounds A and B: SIGCONT blocked, as the signalfd needs it to be. */
	if (read(l->io_pipe[0], &byte, 1) != 1)
		return NULL;
	sigpending(&pending);                   /* this thread's, and the process's */
	l->r.thread_directed_pending_on_b = sigismember(&pending, SIGCONT);
	sigtimedwait(&cont, NULL, &zero);       /* consume it */
	sem_post(&l->blkio_checked);

	/* Round C: let SIGCONT in and block in read() until it is interrupted. */
	if (read(l->io_pipe[0], &byte, 1) != 1)
		return NULL;
	pthread_sigmask(SIG_UNBLOCK, &cont, NULL);
	sem_post(&l->blkio_reading);
	l->r.read_result = (int32_t)read(l->io_pipe[0], &byte, 1);
	l->r.read_errno = l->r.read_result < 0 ? errno : 0;
	sem_post(&l->blkio_done);
	return NULL;
}

/* ioemu's wait in blockif_cancel, bounded: did bse_pending clear within ms? */
static void lab__join(pthread_t t, uint32_t ms)
{
	struct timespec ts;

	/* A thread that does not leave in time is left behind: the process is
	 * about to end anyway, and waiting longer is what this must never do. */
	hvr_clock__deadline(&ts, CLOCK_REALTIME, ms);
	pthread_timedjoin_np(t, NULL, &ts);
}

static int lab__cancel_wait(struct cancel_lab *l, uint32_t ms)
{
	struct timespec ts;
	int done;

	hvr_clock__deadline(&ts, CLOCK_REALTIME, ms);
	pthread_mutex_lock(&l->bse_mtx);
	while (l->bse_pending)
		if (pthread_cond_timedwait(&l->bse_cond, &l->bse_mtx, &ts) == ETIMEDOUT)
			break;
	done = !l->bse_pending;
	pthread_mutex_unlock(&l->bse_mtx);
	return done;
}

static void lab__arm(struct cancel_lab *l)
{
	pthread_mutex_lock(&l->bse_mtx);
	l->bse_pending = 1;
	pthread_mutex_unlock(&l->bse_mtx);
}

static int lab__seen(struct cancel_lab *l)
{
	int n;

	pthread_mutex_lock(&l->bse_mtx);
	n = l->mevent_seen;
	pthread_mutex_unlock(&l->bse_mtx);
	return n;
}

/* Round C: the real handler runs on blkio and cuts its read() short. */
static void lab__round_c(struct cancel_lab *l, pthread_t blkio)
{
	struct sigaction sa;
	struct pollfd p = { .fd = l->ack_pipe[0], .events = POLLIN };
	char go = 'r', ack;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lab__sigcont_handler;
	sa.sa_flags = 0;                        /* deliberately no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCONT, &sa, NULL) < 0 || write(l->io_pipe[1], &go, 1) != 1)
		return;
	if (sem_wait_ms(&l->blkio_reading, l->timeout_ms))
		return;
	/* The signal may land just before read() starts: then send it again. */
	for (i = 0; i < 20; i++) {
		pthread_kill(blkio, SIGCONT);
		if (poll(&p, 1, (int)(l->timeout_ms / 20 + 1)) > 0 && read(l->ack_pipe[0], &ack, 1) == 1)
			l->r.cancel_done_handler = 1;
		if (!sem_wait_ms(&l->blkio_done, l->timeout_ms / 20 + 1))
			break;
	}
	if (i == 20 && write(l->io_pipe[1], &go, 1) == 1)   /* let read() end normally */
		sem_wait_ms(&l->blkio_done, l->timeout_ms);
	l->r.handler_ran = handler_tid != 0;
	l->r.handler_on_target = handler_tid == l->blkio_tid;
}

static void lab__rounds(struct cancel_lab *l, pthread_t blkio)
{
	char go = 'c';

	/* A: thread-directed - nobody will clear bse_pending. */
	lab__arm(l);
	pthread_kill(blkio, SIGCONT);
	l->r.cancel_done_thread_directed = lab__cancel_wait(l, l->quiet_ms);
	l->r.thread_directed_seen_by_m = lab__seen(l) > 0;
	if (write(l->io_pipe[1], &go, 1) != 1 || sem_wait_ms(&l->blkio_checked, l->timeout_ms))
		return;

	/* B: process-directed - mevent's signalfd reports it. */
	lab__arm(l);
	kill(getpid(), SIGCONT);
	l->r.cancel_done_process_directed = lab__cancel_wait(l, l->timeout_ms);
	l->r.process_directed_seen_by_m = lab__seen(l) > 0;

	lab__round_c(l, blkio);
}

static int lab__threads_in_process(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int lab__pipes(struct cancel_lab *l)
{
	if (pipe2(l->io_pipe, O_CLOEXEC) || pipe2(l->stop_pipe, O_CLOEXEC) ||
	    pipe2(l->ack_pipe, O_CLOEXEC | O_NONBLOCK))
		return hvr_error__set(errno, "pipe: %s", strerror(errno));
	return 0;
}

int hvr_signals__experiment(uint32_t timeout_ms, struct hvr_signal_report *out)
{
	static struct cancel_lab l;
	pthread_t mevent, blkio;
	sigset_t cont;
	int threads, ret, started = 0;
	char stop = 's';

	if (timeout_ms < 100 || timeout_ms > 60000)
		return hvr_error__set(EINVAL, "timeout must be 100-60000 ms, not %u", timeout_ms);
	threads = lab__threads_in_process();
	if (threads != 1)
		return hvr_error__set(EBUSY, "the signal experiment changes signal dispositions, so "
				      "it runs only in a fresh single-threaded process (this one has "
				      "%d threads)", threads);
	memset(&l, 0, sizeof(l));
	l.timeout_ms = timeout_ms;
	l.quiet_ms = timeout_ms / 2;
	l.r.read_result = -2;
	l.sfd = l.io_pipe[0] = l.io_pipe[1] = l.stop_pipe[0] = l.stop_pipe[1] = -1;
	l.ack_pipe[0] = l.ack_pipe[1] = -1;
	lab = &l;
	pthread_mutex_init(&l.bse_mtx, NULL);
	pthread_cond_init(&l.bse_cond, NULL);
	sem_init(&l.blkio_ready, 0, 0);
	sem_init(&l.blkio_checked, 0, 0);
	sem_init(&l.blkio_reading, 0, 0);
	sem_init(&l.blkio_done, 0, 0);

	/* Block SIGCONT before any thread starts: every thread inherits the mask. */
	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	pthread_sigmask(SIG_BLOCK, &cont, NULL);
	ret = lab__pipes(&l);
	if (!ret && (l.sfd = signalfd(-1, &cont, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		ret = hvr_error__set(errno, "signalfd: %s", strerror(errno));
	if (!ret && (errno = pthread_create(&mevent, NULL, lab__mevent, &l)) == 0)
		started |= 1;
	if (!ret && (started & 1) && (errno = pthread_create(&blkio, NULL, lab__blkio, &l)) == 0)
		started |= 2;
	if (!ret && started != 3)
		ret = hvr_error__set(errno, "pthread_create: %s", strerror(errno));
	if (!ret && sem_wait_ms(&l.blkio_ready, timeout_ms))
		ret = hvr_error__set(ETIMEDOUT, "timed out waiting for the blkio thread");
	if (!ret)
		lab__rounds(&l, blkio);

	/* Tear down, bounded: wake both threads, give each timeout_ms to leave. */
	if (l.stop_pipe[1] >= 0 && write(l.stop_pipe[1], &stop, 1) != 1)
		ret = ret ? ret : hvr_error__set(errno, "cannot stop the mevent thread");
	if (l.io_pipe[1] >= 0)
		close(l.io_pipe[1]);            /* blkio's read() returns 0 */
	if (started & 1)
		lab__join(mevent, timeout_ms);
	if (started & 2)
		lab__join(blkio, timeout_ms);
	*out = l.r;
	return ret;
}
