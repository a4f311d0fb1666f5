"""The sweep's driver at cluster scale: `xstilts sweep --simulate synthetic` (the real Tuner, PersistentASHA,
Optuna's TPE, journal, retention, live view in plain lines and results.parquet; trials that report their
milestones at once) on a local Ray that declares 64 fake GPUs, with the `xlmr-large` experiment's fractional
resources (4 CPUs, 0.5 GPU a trial) and its 8 milestones (2,000 to 16,000 steps).

    .venv/bin/python benchmarks/scale.py [--trials 200 2000] [--stores local s3] [--concurrency 16]

For each store (a local directory; `s3`: moto's S3 server on localhost, started and stopped here) and each
size, one sweep runs in a fresh process (`--child`), which reports the driver's wall time, its own CPU time
(the driver process only: Ray's processes are others) per journaled result and its peak RSS. Then, in new
processes: `xstilts status` on the run (wall, target <= 5 s), `load_results` and the report's sweep table
(`selection_table` over every milestone). Prints one JSON line per store and size, then one per store with
`cpu_per_result_ratio` = the largest size's driver CPU per result over the smallest's (target <= 2).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository: its tests' helpers (moto's server)


def experiments_file(directory: Path, storage: str, trials: int, concurrency: int) -> Path:
    raw = yaml.safe_load((REPO / "experiments.yaml").read_text())["xlmr-large"]
    raw["storage_path"] = storage
    raw["search"]["num_samples"] = trials
    raw["search"]["max_concurrent"] = concurrency
    path = directory / "experiments.yaml"
    path.write_text(yaml.safe_dump({"xlmr-large": raw}, sort_keys=False))
    return path


def child(path: Path, gpus: int) -> None:
    """One simulated sweep in this process: prints the driver's own figures as JSON."""
    from xstilts.search.pipeline import sweep_experiment

    wall, cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        result = sweep_experiment(path, "xlmr-large", simulate="synthetic", gpus=gpus)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    results = sum(1 for e in result.run_dir.read_ledger() if e["event"] == "result")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
    print(
        json.dumps(
            {
                "run_dir": result.run_dir.loc.full_uri,
                "wall_s": wall,
                "driver_cpu_s": cpu,
                "results": results,
                "driver_cpu_ms_per_result": 1000 * cpu / max(1, results),
                "peak_rss_gib": peak,
                "trials": len(result.run_dir.known_trials()),
            }
        )
    )


def reads(run_dir: str) -> None:
    """load_results and the report's sweep table on a finished run, in this process: prints their seconds."""
    from xstilts.search.journal import Journal
    from xstilts.search.pipeline import load_results
    from xstilts.search.report.tables import selection_table
    from xstilts.search.rundir import RunDir

    started = time.perf_counter()
    rows = len(load_results(run_dir).milestones)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    rd = RunDir(run_dir)
    table = selection_table(Journal(rd).milestones(), rd.read_experiment().evaluation.rule)
    table_s = time.perf_counter() - started
    ledger = rd.read_ledger()
    size = sum(len(json.dumps(e)) + 1 for e in ledger)
    print(
        json.dumps(
            {
                "load_results_s": load_s,
                "result_rows": rows,
                "selection_table_s": table_s,
                "selection_rows": len(table),
                "ledger_events": len(ledger),
                "ledger_mib": size / 2**20,
            }
        )
    )


def run_one(store: str, storage: str, trials: int, concurrency: int, gpus: int, env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = experiments_file(Path(tmp), storage, trials, concurrency)
        py = [sys.executable, __file__]
        out = subprocess.run([*py, "--child", str(path), "--gpus", str(gpus)], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"the sweep of {trials} trials failed:\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        started = time.perf_counter()
        status = subprocess.run(
            [sys.executable, "-m", "xstilts", "status", figures["run_dir"]], env=env, capture_output=True, text=True
        )
        figures["status_s"] = time.perf_counter() - started
        assert status.returncode == 0, status.stderr[-2000:]
        read = subprocess.run([*py, "--reads", figures["run_dir"]], env=env, capture_output=True, text=True)
        assert read.returncode == 0, read.stderr[-2000:]
        figures |= json.loads(read.stdout.strip().splitlines()[-1])
    return {"store": store, "trials_requested": trials, "concurrency": concurrency, "gpus": gpus, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--stores", nargs="+", default=["local", "s3"], choices=["local", "s3"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--child", type=Path)
    parser.add_argument("--reads")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.gpus)
    if args.reads:
        return reads(args.reads)
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "cpus": os.cpu_count()}))
    for store in args.stores:
        rows = []
        with contextlib.ExitStack() as stack:
            env = dict(os.environ)
            if store == "s3":
                from tests.conftest import S3_ENV, moto_server

                env |= S3_ENV
                os.environ.update(S3_ENV)
                s3 = stack.enter_context(moto_server())
            for trials in args.trials:
                if store == "s3":
                    storage = s3.uri(f"scale-{trials}")
                else:
                    storage = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "runs")
                rows.append(run_one(store, storage, trials, args.concurrency, args.gpus, env))
                print(json.dumps(rows[-1]), flush=True)
        ratio = rows[-1]["driver_cpu_ms_per_result"] / rows[0]["driver_cpu_ms_per_result"]
        print(json.dumps({"store": store, "cpu_per_result_ratio": round(ratio, 2)}), flush=True)


if __name__ == "__main__":
    main()
