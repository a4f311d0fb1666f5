"""What the sweep's driver does per result as the journal grows: the scheduler (`PersistentASHA`: journal the
result, decide, prune the reporting trial's checkpoints) and the live view, with a journal of N events.

    .venv/bin/python benchmarks/driver_cost.py [--sizes 100 10000] [--results 40] [--stores local s3]

For each store (a local directory; `s3`: moto's S3 server on localhost, started and stopped by this script)
and each size, a run directory gets a ledger of N result events (N/8 trials x 8 milestones, each trial ended)
and one directory per trial, as Ray Tune leaves them. Then, as a resumed driver does, the journal is read once
(`read_s`), and `--results` new results (trials of 8 milestones) go through `PersistentASHA.on_trial_result`
(with checkpoint retention) and `ProgressView.on_trial_result`, each trial until ASHA stops it; each is
timed. Prints one JSON line per store:
per size the read time and the per-result milliseconds (mean, median, max), and `flat_ratio` = the largest
size's mean over the smallest's. Target: flat_ratio <= 2 and under 5 ms a result locally.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers

STEPS = 8  # milestones per trial
TASKS = ("none", "mnli", "qqp", "sst2", "anli")


def result_event(trial: str, step: int, mean: float) -> dict:
    task = TASKS[int(trial, 16) % len(TASKS)]
    config = {"intermediate_task": task, "intermediate_steps": 100 * STEPS, "lr": 1e-4, "batch_size": 16}
    metrics = {"step": step, "mean": mean, "low_resource_mean": mean - 5, "worst": mean - 9, "worst_lang": "sw"}
    metrics |= {f"probe/{t}/{lang}": mean for t in ("xnli", "panx") for lang in ("en", "de", "sw", "ur")}
    return {"event": "result", "trial_id": trial, "step": step, "config": config, "metrics": metrics}


def fill(run_dir, n_events: int, rng: random.Random) -> None:
    """A ledger of `n_events` results (whole trials, each ended) and each trial's directory."""
    from xstilts.search.ledger_files import LEDGER_OBJECTS, ledger_object_name

    events = []
    for i in range(max(1, n_events // STEPS)):
        trial = f"{i:08x}"
        events += [result_event(trial, 100 * (k + 1), rng.uniform(30, 60)) for k in range(STEPS)]
        events.append({"event": "end", "trial_id": trial, "how": "complete"})
    lines = [json.dumps({**e, "time": time.time()}) for e in events]
    if run_dir.local:
        run_dir.path.mkdir(parents=True, exist_ok=True)
        (run_dir.path / "xstilts-ledger.jsonl").write_text("\n".join(lines) + "\n")
        for i in range(n_events // STEPS):
            (run_dir.path / f"run_trial_{i:08x}_{i}_cfg").mkdir()
        return
    base = time.time_ns()
    writes = [(f"{LEDGER_OBJECTS}/{ledger_object_name(base + k, line.encode())}", line) for k, line in enumerate(lines)]
    writes += [(f"run_trial_{i:08x}_{i}_cfg/params.json", "{}") for i in range(n_events // STEPS)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda w: run_dir.loc.write_text(*w), writes))


def measure(run_dir, n_results: int, rng: random.Random) -> dict:
    from xstilts.search.journal import open_journal
    from xstilts.search.selection import Retention
    from xstilts.search.sweep.live import ProgressView
    from xstilts.search.sweep.scheduler import PersistentASHA

    started = time.perf_counter()
    open_journal(run_dir)
    read_s = time.perf_counter() - started
    sched = PersistentASHA(
        run_dir,
        final_step_key="intermediate_steps",
        retention=Retention(keep=2, metric="mean", select="mean", durations=True),
        time_attr="step",
        max_t=100 * STEPS,
        grace_period=100,
        reduction_factor=2,
    )
    sched.set_search_properties("mean", "max")
    controller = SimpleNamespace(get_trials=lambda: [])
    times = []
    with contextlib.redirect_stdout(io.StringIO()):
        view = ProgressView("mean", run_dir, force_terminal=False)
        view.setup()
        j = 0
        while len(times) < n_results:
            trial_id = f"f{j:07x}"
            config = result_event(trial_id, 0, 0)["config"]
            name = f"run_trial_{trial_id}_{j}_cfg"
            run_dir.loc.write_text(f"{name}/params.json", "{}")  # Ray Tune makes it first, and names it
            storage = SimpleNamespace(trial_dir_name=name)
            trial = SimpleNamespace(trial_id=trial_id, config=config, status="RUNNING", last_result={}, storage=storage)
            sched.on_trial_add(controller, trial)
            view.on_trial_start(0, [], trial)
            for k in range(STEPS):  # until ASHA stops it, as Ray Tune does
                result = result_event(trial_id, 100 * (k + 1), rng.uniform(30, 60))["metrics"]
                t0 = time.perf_counter()
                action = sched.on_trial_result(controller, trial, result)
                view.on_trial_result(0, [], trial, result)
                times.append(time.perf_counter() - t0)
                if os.environ.get("DRIVER_COST_TRACE"):
                    print(trial_id, k, round(times[-1] * 1000, 2), file=sys.stderr)
                if action == "STOP":
                    break
            j += 1
    ms = [t * 1000 for t in times]
    return {
        "read_s": round(read_s, 3),
        "ms_mean": round(statistics.mean(ms), 3),
        "ms_median": round(statistics.median(ms), 3),
        "ms_max": round(max(ms), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10000], help="journaled events")
    parser.add_argument("--results", type=int, default=40, help="results timed per size")
    parser.add_argument("--stores", nargs="+", default=["local", "s3"], choices=["local", "s3"])
    args = parser.parse_args()
    from tests.conftest import S3_ENV, moto_server  # the test suite's moto server (S3 API on localhost)
    from xstilts.search.rundir import RunDir

    os.environ.update(S3_ENV)
    for store in args.stores:
        rows = {}
        with tempfile.TemporaryDirectory() as tmp, moto_server() if store == "s3" else contextlib.nullcontext() as s3:
            for size in args.sizes:
                run_dir = RunDir(s3.uri(f"runs/n{size}") if s3 else Path(tmp) / f"n{size}")
                fill(run_dir, size, random.Random(size))
                rows[size] = measure(run_dir, args.results, random.Random(0))
        small, large = rows[min(args.sizes)], rows[max(args.sizes)]
        print(
            json.dumps(
                {
                    "benchmark": "driver_cost",
                    "store": store,
                    "machine": f"{os.cpu_count()} cores ({platform.machine()})",
                    "sizes": rows,
                    "flat_ratio": round(large["ms_mean"] / small["ms_mean"], 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
