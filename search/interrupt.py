"""Pre-emption: SIGTERM (a scheduler's or a cloud's notice) or SIGINT (Ctrl+C) to the driver stops the sweep the
way Ray Tune stops on its own stop signal: trials are stopped, the experiment state is saved, `fit` returns.
The command then writes what finished and exits 143 / 130; the same command resumes.

Ray Tune 2.60 catches SIGINT and SIGUSR1 itself (ray/tune/tune.py, `_setup_signal_catching`) but not
SIGTERM, which kills the driver mid-write. Here Ray's SIGINT handler is switched off
(TUNE_DISABLE_SIGINT_HANDLER=1) and both signals are recorded and passed on to Ray as SIGUSR1. A second
signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from xstilts.core.errors import WorkFailed

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as a shell reports it


class Interrupted(WorkFailed, RuntimeError):
    """The sweep stopped on a signal; `code` is the exit status (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum, self.code = signum, EXIT_CODES.get(signal.Signals(signum), 128 + signum)
        self.exit_status = self.code


class StopSignal:
    """The first stop signal received while installed (None: none)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, _frame) -> None:
        if self.signum is not None:  # a second signal: no more waiting
            os._exit(EXIT_CODES.get(signal.Signals(signum), 128 + signum))
        self.signum = signum
        os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune's own graceful stop


@contextmanager
def stop_on_signals() -> Iterator[StopSignal]:
    """Within: SIGTERM and SIGINT stop Ray Tune's `fit` gracefully; yields what was received."""
    stop = StopSignal()
    previous = {s: signal.getsignal(s) for s in EXIT_CODES}
    env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for s in EXIT_CODES:
        signal.signal(s, stop.handle)
    tune_log = logging.getLogger("ray.tune.tune")  # its own "Stop signal received" warning: the CLI says it
    level = tune_log.level
    tune_log.setLevel(logging.ERROR)
    try:
        yield stop
    finally:
        tune_log.setLevel(level)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = env
