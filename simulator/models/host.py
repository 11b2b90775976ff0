"""The host operating system's signal rules, as data: one object per OS.

hyperkit #94 is a bug in what happens *between* ``pthread_kill`` and the code
that should notice the signal, and the answer differs from kernel to kernel.
Each ``HostOS`` states the rules the block_if code depends on, and where each
rule comes from (``Fact.known``: read in the kernel's source or its manual;
otherwise inferred, with the reasoning):

- whether kqueue's ``EVFILT_SIGNAL`` reports a signal sent to *one thread*
  (``pthread_kill``) or only signals sent to the *process* (``kill``);
- that it reports a signal even when the process ignores it (``SIG_IGN``);
- that an ignored ``SIGCONT`` interrupts nobody's system call;
- that a caught signal runs its handler *on the thread it was sent to*;
- whether that handler cuts a disk I/O short with ``EINTR``.

``Process`` is one hyperkit/bhyve process on such a host: its threads and their
ids, the dispositions ``blockif_init`` set up, and ``pthread_kill``/``kill``
written as model code, so the sender's thread performs the kernel's work
(FreeBSD's ``tdsendsignal`` and XNU's ``psignal_internal`` run in the sender's
system call).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from simulator.engine import ops

SIGCONT = 19  # its number on FreeBSD and macOS (18 on Linux x86, 25 on illumos)
SIGNAMES = {SIGCONT: "SIGCONT"}
SIG_DFL, SIG_IGN, SIG_CATCH = "SIG_DFL", "SIG_IGN", "handler"


@dataclass(frozen=True)
class Fact:
    """One rule of a host OS, and how we know it."""

    rule: str
    known: bool  # True: read in source or manual; False: inferred
    source: str

    def __str__(self) -> str:
        return f"{self.rule} [{'known' if self.known else 'inferred'}: {self.source}]"

    def lines(self, width: int = 88) -> list[str]:
        """The rule, then how we know it, indented under it: for reading, not grepping."""
        rule = textwrap.wrap(self.rule, width, initial_indent="  - ", subsequent_indent="    ")
        why = textwrap.wrap(f"{'known' if self.known else 'inferred'}: {self.source}", width,
                            initial_indent="      ", subsequent_indent="      ")
        return rule + why


@dataclass(frozen=True)
class HostOS:
    """What one kernel does with a signal, as far as block_if cares."""

    name: str
    kqueue: bool  # has kqueue/kevent at all
    kqueue_sees_thread_signals: bool  # EVFILT_SIGNAL fires for pthread_kill too
    handler_interrupts_disk_io: bool  # a caught signal ends blkio's pread/TRIM with EINTR
    facts: tuple[Fact, ...] = field(default=(), compare=False)

    def explain(self) -> str:
        """Each rule on this host, with where it comes from (known) or why we think so
        (inferred), wrapped to fit a notebook's output."""
        return "\n".join([f"{self.name}:"] + [line for f in self.facts for line in f.lines()])


_IGNORED = "an ignored SIGCONT wakes and interrupts no thread"
_IGNORED_FREEBSD = Fact(_IGNORED, True,
                        "sys/kern/kern_sig.c: SIG_IGN for SIGCONT is treated as SIG_DFL, and "
                        "tdsigwakeup leaves a sleeping thread asleep for a default or ignored "
                        "SIGCONT")
_IGNORED_XNU = Fact(_IGNORED, True,
                    "XNU bsd/kern/kern_sig.c: SIGCONT is never put in p_sigignore, and "
                    "psignal_internal's SIGCONT case leaves a thread sleeping on an event asleep")
_ON_TARGET = Fact("a caught signal sent with pthread_kill runs its handler on that thread", True,
                  "POSIX pthread_kill; a thread blocked in pthread_mutex_lock runs the handler "
                  "and goes back to waiting for the mutex (POSIX pthread_mutex_lock)")
_DISK_IO = Fact("a disk read, write or TRIM is not cut short by a signal handler", False,
                "block I/O waits in the kernel are uninterruptible on these kernels; "
                "not checked for every backing store")

FREEBSD = HostOS(
    "FreeBSD", kqueue=True, kqueue_sees_thread_signals=True, handler_interrupts_disk_io=False,
    facts=(
        Fact("EVFILT_SIGNAL fires for every signal sent to the process or to any one of "
             "its threads, even an ignored one", True,
             "sys/kern/kern_sig.c tdsendsignal: KNOTE_LOCKED(p->p_klist, NOTE_SIGNAL | sig) "
             "runs for thread- and process-directed signals, before the SIG_IGN check"),
        _IGNORED_FREEBSD, _ON_TARGET, _DISK_IO))

MACOS = HostOS(
    "macOS", kqueue=True, kqueue_sees_thread_signals=False, handler_interrupts_disk_io=False,
    facts=(
        Fact("EVFILT_SIGNAL fires only for signals sent to the process, never for one sent "
             "to a thread with pthread_kill", True,
             "Apple's kevent(2), as quoted in the report: 'Only signals sent to the process, "
             "not to a particular thread, will trigger the filter'; XNU bsd/kern/kern_sig.c: "
             "__pthread_kill -> "
             "psignal_uthread -> psignal_internal(PSIG_THREAD) skips proc_knote"),
        Fact("a process-directed signal fires EVFILT_SIGNAL even when ignored", True,
             "XNU psignal_internal calls proc_knote before the p_sigignore check"),
        _IGNORED_XNU, _ON_TARGET, _DISK_IO))

ILLUMOS = HostOS(
    "illumos", kqueue=False, kqueue_sees_thread_signals=False, handler_interrupts_disk_io=False,
    facts=(
        Fact("no kqueue: bhyve's illumos port installs a real SIGCONT handler with sigset()",
             True, "usr/src/cmd/bhyve/block_if.c blockif_init: the #else of its "
             "#ifdef __FreeBSD__"),
        _ON_TARGET, _DISK_IO))

LINUX = HostOS(
    "Linux", kqueue=False, kqueue_sees_thread_signals=False, handler_interrupts_disk_io=False,
    facts=(
        Fact("a signalfd (or sigwaitinfo) reads signals pending for its own thread or for "
             "the process, never one sent to another thread with pthread_kill", True,
             "signalfd(2); checked on this machine by `python -m simulator real blockif`"),
        Fact("a handler installed without SA_RESTART ends the target thread's blocking "
             "read() on a pipe with EINTR", True, "signal(7); checked on this machine too"),
        _ON_TARGET, _DISK_IO))

HOSTS = {h.name: h for h in (FREEBSD, MACOS, ILLUMOS, LINUX)}


class Process:
    """One bhyve/hyperkit process: thread ids, signal dispositions, who is told what.

    ``kqueue`` is the main thread's kqueue (``mevent``) when a filter for the
    signal was registered (``watch``). ``handlers`` maps a thread to the model
    thread that runs its signal handler: a handler is a second flow of control
    the kernel starts on the target thread, so it gets a lane of its own; its
    steps touch nothing of the target's own, so running them between the
    target's steps is the same as running them in the middle of one.
    """

    def __init__(self, host: HostOS, threads: dict[int, str]):
        self.host = host
        self.threads = dict(threads)  # pthread id -> thread name
        self.disposition: dict[int, str] = {}
        self.kqueue = None  # the Kqueue that watches signals, if any
        self.watched: set[int] = set()
        self.handlers: dict[str, str] = {}  # thread -> its signal-handler context
        self.catchers: dict[int, object] = {}  # signal -> the handler sigset installed

    # ---- set-up (blockif_init, before any thread of the model runs) ------------
    def signal(self, sig: int, action: str) -> None:
        """``signal(sig, SIG_IGN)`` and friends."""
        self.disposition[sig] = action

    def sigset(self, sig: int, handler) -> None:
        """``sigset(sig, handler)``: catch ``sig``; ``handler`` is a generator function."""
        self.disposition[sig] = SIG_CATCH
        self.catchers[sig] = handler

    def signal_context(self, thread: str) -> tuple[str, object]:
        """The model thread that runs caught signals' handlers on ``thread``: its
        name (``blkio.sig``) and its program. It waits (``cv_wait_sig``) until a
        signal is sent to ``thread``, runs the handler, and waits again; a signal
        sent meanwhile stays pending and runs the handler once more, as a
        blocked standard signal does."""
        name = f"{thread}.sig"
        self.handlers[thread] = name

        def deliver():
            yield ops.lock(name, "sigacthandler")
            while True:
                yield ops.cv_wait_sig(name, name, "sigacthandler")
                for sig, handler in self.catchers.items():
                    if self.disposition.get(sig) == SIG_CATCH:
                        yield from handler()

        return name, deliver()

    def watch(self, sig: int, kqueue) -> None:
        """``EV_SET(..., sig, EVFILT_SIGNAL, EV_ADD, ...)`` on the main thread's kqueue."""
        if not self.host.kqueue:
            raise ValueError(f"{self.host.name} has no kqueue")
        self.kqueue = kqueue
        self.watched.add(sig)

    # ---- sending (model code, run by the sender's thread) -----------------------
    def pthread_kill(self, tid: int, sig: int, func: str = "pthread_kill"):
        """Send ``sig`` to one thread, as the sender's system call does it."""
        target = self.threads.get(tid)
        yield ops.note(f"pthread_kill({target or tid}, {SIGNAMES.get(sig, sig)})", func)
        if target is None:
            return  # ESRCH
        if self._kqueue_hears(thread_directed=True, sig=sig):
            yield from self.kqueue.knote(sig)
        yield from self._deliver(target, sig, func)

    def kill(self, sig: int, func: str = "kill"):
        """Send ``sig`` to the whole process (``kill(getpid(), sig)``, ``kill -CONT``)."""
        yield ops.note(f"kill(pid, {SIGNAMES.get(sig, sig)})", func)
        if self._kqueue_hears(thread_directed=False, sig=sig):
            yield from self.kqueue.knote(sig)
        if self.disposition.get(sig) == SIG_CATCH and self.handlers:
            # the kernel picks a thread that does not block it: here, the first
            yield from self._deliver(next(iter(self.handlers)), sig, func)

    def _kqueue_hears(self, thread_directed: bool, sig: int) -> bool:
        if self.kqueue is None or sig not in self.watched:
            return False
        return self.host.kqueue_sees_thread_signals or not thread_directed

    def _deliver(self, target: str, sig: int, func: str):
        """Ignored: the kernel drops it (after any knote). Caught: the handler runs
        on the target. SIGCONT's default action only resumes a stopped process."""
        if self.disposition.get(sig) == SIG_CATCH and target in self.handlers:
            yield ops.send_signal(self.handlers[target], func)
