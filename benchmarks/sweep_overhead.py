"""What the orchestration costs: a small sweep's wall time against the in-trial work it ran, divided by its
concurrency (the wall time a perfect scheduler with no driver, Ray or start-up cost would take); prints one
JSON line with the ratio and its parts.

    .venv/bin/python benchmarks/sweep_overhead.py [--num-samples 6] [--steps 100 200]

Runs `xstilts sweep` on the offline default with a smaller budget (search.num_samples, intermediate.steps)
in a fresh storage directory. In-trial work is each trial's time in its trainable (Ray's time_total_s at its
last result); within it, trial start-up (`startup_s`: data mapped, model loaded, before the first step) is
broken out. Outside it: the driver before the first trial starts (the data check, Ray's start) and after
the last one ends (results), and gaps between trials (scheduling, worker start). Target: ratio <= 1.10.

Ray's own floor is measured in the same run: a fresh Python process that starts a local Ray, runs a Ray Tune
sweep of the same number of no-op trials at the same concurrency (actors reused, as xstilts does), and shuts
Ray down. Any Ray Tune sweep pays that cost whatever it trains, so `ratio_floor_vs_ideal` says how close to
1.0 a sweep of this size can get on this machine, and `ratio_without_floor` what xstilts adds on top.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def trial_times(run_dir: Path) -> list[dict]:
    """Per trial: start and end (epoch seconds), time in the trainable, start-up, last step."""
    from ray.tune import ExperimentAnalysis

    out = []
    for frame in ExperimentAnalysis(str(run_dir)).trial_dataframes.values():
        if frame.empty:
            continue
        last = frame.iloc[-1]
        end, work = float(last["timestamp"]), float(last["time_total_s"])
        out.append({"start": end - work, "end": end, "work": work, "startup": float(last.get("startup_s", 0.0) or 0.0)})
    return out


RAY_FLOOR = """
import ray
from ray import tune

ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
tune.Tuner(
    lambda config: tune.report({"x": 1}),
    tune_config=tune.TuneConfig(num_samples=NUM_SAMPLES, max_concurrent_trials=CONCURRENCY, reuse_actors=True),
    run_config=tune.RunConfig(storage_path=STORAGE, verbose=0),
).fit()
ray.shutdown()
"""


def ray_floor(num_samples: int, concurrency: int, storage: Path) -> float:
    """Wall seconds of a whole Python process that runs a Ray Tune sweep of no-op trials."""
    code = RAY_FLOOR.replace("NUM_SAMPLES", str(num_samples)).replace("CONCURRENCY", str(concurrency))
    started = time.time()
    subprocess.run(
        [sys.executable, "-c", code.replace("STORAGE", repr(str(storage)))],
        check=True,
        capture_output=True,
        env={**os.environ, "RAY_AIR_NEW_OUTPUT": "0", "RAY_USAGE_STATS_ENABLED": "0"},
    )
    return time.time() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-samples", type=int, default=6)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 200])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        exp = yaml.safe_load((REPO / "experiments.yaml").read_text())["offline"]
        exp.update(cache_dir=str(REPO / ".cache"), storage_path=str(tmp / "runs"))
        exp["search"]["num_samples"] = args.num_samples
        exp["intermediate"]["steps"] = args.steps
        concurrency = int(exp["search"]["max_concurrent"])
        path = tmp / "experiments.yaml"
        path.write_text(yaml.safe_dump({"offline": exp}))
        subprocess.run([sys.executable, "-m", "xstilts", "prepare", str(path)], check=True, capture_output=True)
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "xstilts", "sweep", str(path)], capture_output=True, text=True)
        wall = time.time() - started
        if proc.returncode:
            raise SystemExit(f"sweep failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        trials = trial_times(tmp / "runs" / "offline")
        floor = ray_floor(args.num_samples, concurrency, tmp / "floor")
    work = sum(t["work"] for t in trials)
    startup = sum(t["startup"] for t in trials)
    first, last = min(t["start"] for t in trials), max(t["end"] for t in trials)
    ideal = work / concurrency
    print(
        json.dumps(
            {
                "benchmark": "sweep_overhead",
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "trials": len(trials),
                "concurrency": concurrency,
                "wall_s": round(wall, 1),
                "in_trial_work_s": round(work, 1),
                "ideal_s": round(ideal, 1),
                "ratio_wall_vs_ideal": round(wall / ideal, 3),
                "trial_startup_s_total": round(startup, 1),
                "trial_startup_share_of_work": round(startup / work, 3),
                "driver_before_first_trial_s": round(first - started, 1),
                "driver_after_last_trial_s": round(started + wall - last, 1),
                "trials_span_s": round(last - first, 1),
                "ratio_span_vs_ideal": round((last - first) / ideal, 3),
                "ray_floor_s": round(floor, 1),
                "ratio_floor_vs_ideal": round((ideal + floor) / ideal, 3),
                "ratio_without_floor": round((wall - floor) / ideal, 3),
                "target": 1.10,
            }
        )
    )


if __name__ == "__main__":
    main()
