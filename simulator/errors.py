"""The exception types that user-facing entry points turn into a one-line message."""


class UsageError(Exception):
    """Bad input from a person: an unknown scenario, an impossible parameter,
    a malformed schedule or litmus file, a missing /dev/kvm.

    The CLI prints ``str(error)`` on one line and exits with status 2; notebooks
    and grading show the same line instead of a traceback.
    """


class ModelCrash(Exception):
    """The simulator's own model code raised while running a built-in variant.

    That is a fault of the model, never a verdict about the system it stands
    for (a lost interrupt, a missed wake-up): the run says nothing about the
    bug. The CLI prints one line and exits with status 3. (A student's variant
    class that raises is different: that answer fails, and its run ends
    ``violation``.)
    """
