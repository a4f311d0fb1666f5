"""What the terminal shows while a stage runs: durations and ETAs, the cluster's CPUs / GPUs in use, a batch
of Ray tasks' progress (`JobProgress`, the evaluation's) and the set-up stages' bars (`StageProgress`, which
renders `xstilts.tasks.reporting`). The sweep's live table is `search/sweep/live.py`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console


def fmt(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def clock(seconds: float | None) -> str:
    """h:mm:ss (or m:ss) of a duration; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def eta(elapsed: float | None, finished: int, remaining: int) -> float | None:
    """Seconds left at the rate so far: `finished` jobs took `elapsed`, however many ran at a time."""
    if remaining <= 0:
        return 0.0
    if not finished or elapsed is None:
        return None
    return elapsed / finished * remaining


def cluster_usage() -> dict[str, tuple[float, float]]:
    """CPU and GPU in use / total on the Ray cluster this process is connected to."""
    import ray

    total, free = ray.cluster_resources(), ray.available_resources()
    return {k: (total.get(k, 0.0) - free.get(k, 0.0), total.get(k, 0.0)) for k in ("CPU", "GPU")}


def usage_text(usage: dict[str, tuple[float, float]] | None) -> str:
    if not usage:
        return "cluster: —"
    return " ".join(f"{k} {used:g}/{total:g}" for k, (used, total) in usage.items())


class JobProgress:
    """Done / running / failed counts of a batch of Ray tasks, elapsed time, an ETA from the finished jobs and
    the cluster's CPUs / GPUs in use: a rich progress bar, or plain lines."""

    def __init__(
        self,
        title: str,
        force_terminal: bool | None = None,
        usage_of: Callable[[], dict[str, tuple[float, float]]] | None = None,
    ):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(force_terminal=force_terminal, highlight=False)
        self.done = self.running = self.failed = 0
        self._finished = 0  # jobs that ended in this session (done before it: not in the rate)
        self.usage_of = usage_of or cluster_usage
        self.usage: dict[str, tuple[float, float]] | None = None
        self._t0 = time.time()
        self._checked = 0.0
        self._bar = None
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn(title),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._task = self._bar.add_task(title, total=0, info="")
            self._bar.start()

    def status_text(self) -> str:
        """running, failed, elapsed, ETA (the jobs left at the finished jobs' mean, as many at a time as run
        now) and the cluster's use."""
        if time.monotonic() - self._checked >= 2.0:
            self._checked = time.monotonic()
            try:
                self.usage = self.usage_of()
            except Exception:  # no Ray connection: the usage stays unknown
                self.usage = None
        left = eta(time.time() - self._t0, self._finished, self.running)
        return (
            f"running {self.running} · failed {self.failed} · elapsed {clock(time.time() - self._t0)} · "
            f"ETA {clock(left)} · {usage_text(self.usage)}"
        )

    def _update(self) -> None:
        if self._bar is not None:
            total = self.done + self.running + self.failed
            self._bar.update(self._task, total=total, completed=self.done, info=self.status_text())

    def add_done(self, n: int) -> None:
        self.done += n
        self._update()

    def add_running(self, what: str) -> None:
        self.running += 1
        self._update()

    def finished(self, what: str, ok: bool) -> None:
        self.running -= 1
        self.done += ok
        self.failed += not ok
        self._finished += 1
        self._update()
        line = (
            f"[{time.strftime('%H:%M:%S')}] {'done' if ok else 'FAILED'}: {what} ({self.done} of "
            f"{self.done + self.running + self.failed} done, {self.status_text()})"
        )
        if self._bar is None:
            self.console.print(line, markup=False, soft_wrap=True)
        elif not ok:
            self._bar.console.print(line, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class StageProgress:
    """Renders `xstilts.tasks.reporting.report` calls: a rich bar per stage (steps, the stage's fact such as
    the loss, elapsed) on a terminal, plain lines otherwise (a stage's start and end, and a line at most
    every `every` seconds between). Featurisation stages appear only once they last `delay` seconds. The
    bars stop as soon as every shown stage has finished, so that a later live view can take the terminal."""

    def __init__(self, force_terminal: bool | None = None, every: float = 5.0, delay: float = 3.0):
        self.console = Console(force_terminal=force_terminal, highlight=False)
        self.every, self.delay = every, delay
        self._stages: dict[str, dict] = {}
        self._bar: Any = None

    def _new_bar(self) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        bar.start()
        return bar

    def __call__(self, stage: str, done: int, total: int | None, info: str = "") -> None:
        now = time.monotonic()
        st = self._stages.get(stage)
        if st is None or (st["finished"] and done < (total or 0)):  # a stage seen again starts over
            st = self._stages[stage] = {"t0": now, "last": -math.inf, "shown": False, "task": None, "finished": False}
        delayed = stage.startswith("featurise") and now - st["t0"] < self.delay
        finished = total is not None and done >= total
        st["finished"] = finished
        if self.console.is_terminal:
            if delayed or (st["task"] is None and finished and stage.startswith("featurise")):
                return
            if self._bar is None:
                self._bar = self._new_bar()
            if st["task"] is None:
                st["task"] = self._bar.add_task(stage, total=total, info=info)
            self._bar.update(st["task"], completed=done, total=total, info=info)
            if all(t.finished for t in self._bar.tasks):
                self._bar.stop()
                self._bar = None
                for other in self._stages.values():
                    other["task"] = None
            return
        if delayed or (finished and not st["shown"] and stage.startswith("featurise")):
            return
        if not st["shown"] or finished or now - st["last"] >= self.every:
            of = f"/{total}" if total is not None else ""
            fact = f" · {info}" if info else ""
            line = f"[{time.strftime('%H:%M:%S')}] {stage}: {done}{of}{fact} · elapsed {clock(now - st['t0'])}"
            self.console.print(line, markup=False, soft_wrap=True)
            st["shown"], st["last"] = True, now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
