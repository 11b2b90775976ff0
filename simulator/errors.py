"""The one exception type that user-facing entry points turn into a one-line message."""


class UsageError(Exception):
    """Bad input from a person: an unknown scenario, an impossible parameter,
    a malformed schedule or litmus file, a missing /dev/kvm.

    The CLI prints ``str(error)`` on one line and exits with status 2; notebooks
    and grading show the same line instead of a traceback.
    """
