"""The errors xstilts raises on purpose, under one base whose subclasses carry their exit status: `InputError`
is bad input (a command prints its one line and exits 2, before any expensive work), `WorkFailed` is work that
failed and that a rerun retries (exit 1). Each concrete error also subclasses the builtin it has always been
(ValueError, OSError, ...), so callers catching those keep working."""

from __future__ import annotations


class XstiltsError(Exception):
    """Base of every error xstilts raises on purpose; str() is one line, `exit_status` what a command exits with."""

    exit_status = 1


class InputError(XstiltsError):
    """Bad input: a file, field or value that cannot be used as given."""

    exit_status = 2


class WorkFailed(XstiltsError):
    """Work that failed for a reason outside the input (a job, a signal, memory); a rerun retries it."""

    exit_status = 1
