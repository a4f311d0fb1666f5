"""Wall time and peak memory of the offline default (`make run`'s job), on this machine.

Runs, in a fresh storage directory each: a baseline sweep of one trial (Ray start-up, data, one probe:
the fixed cost) and the offline default sweep itself, then that sweep's `xstilts evaluate` and
`xstilts report`; prints one JSON line with each stage, the sweep's ratio to the baseline, and the ratios
to the targets (sweep: 5 min and 4 GiB; sweep + evaluate + report: 10 min; on 2 cores). RSS and PSS are
summed over the driver's whole process tree (Ray's GCS, raylet and workers), sampled every 0.2 s. Disk: the
run directory, per trial (its checkpoints) and the evaluation, after the sweep (winners' checkpoints kept)
and after the evaluation (pruned to search.keep_checkpoints + the latest).

    .venv/bin/python benchmarks/offline_sweep.py [--fresh-cache]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from xstilts.search.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
TARGET_S, TARGET_GIB, TARGET_JOB_S = 300.0, 4.0, 600.0


def tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) summed over the process tree. RSS counts pages shared by the Ray workers (torch's
    libraries) once per process; PSS splits them between the processes that share them."""
    rss = pss = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            rss, pss = rss + info.rss, pss + getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return rss, pss


def timed(cmd: list[str], cwd: Path, every: float = 0.2) -> dict:
    """Run `cmd`, sampling the process tree's memory every `every` seconds (PSS reads each process's smaps:
    a cost of its own on 2 cores when the tree is large)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps, peak, peak_pss = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        try:
            rss, pss = tree_memory(ps)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        except psutil.Error:
            pass
        time.sleep(every)
    out = proc.stdout.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return {
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "peak_pss_gib": round(peak_pss / 2**30, 2),
    }


def disk_use(exp_dir: Path) -> dict:
    """Bytes on disk: the whole run directory, each trial's directory (its checkpoints), and the evaluation."""

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    trials = [size(d) for d in exp_dir.glob("run_trial_*") if d.is_dir()]
    ckpts = sum(1 for _ in exp_dir.glob("run_trial_*/checkpoint_*"))
    return {
        "run_mib": round(size(exp_dir) / 2**20, 1),
        "trials": len(trials),
        "checkpoints": ckpts,
        "per_trial_mib_mean": round(sum(trials) / max(len(trials), 1) / 2**20, 1),
        "per_trial_mib_max": round(max(trials, default=0) / 2**20, 1),
        "evaluation_mib": round(size(exp_dir / "evaluation") / 2**20, 1) if (exp_dir / "evaluation").is_dir() else 0.0,
    }


def experiment_file(dir_: Path, cache: Path, overrides: dict) -> Path:
    exp = yaml.safe_load((REPO / "experiments.yaml").read_text())["offline"]
    exp.update(cache_dir=str(cache), storage_path=str(dir_ / "runs"))
    exp["search"].update(overrides)
    path = dir_ / "experiments.yaml"
    path.write_text(yaml.safe_dump({"offline": exp}))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh-cache", action="store_true", help="also time `xstilts prepare` from nothing")
    args = ap.parse_args()
    xstilts = [sys.executable, "-m", "xstilts"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache" if args.fresh_cache else REPO / ".cache"
        report: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "python": platform.python_version()}
        base_dir, full_dir = tmp / "baseline", tmp / "offline"
        base_dir.mkdir()
        full_dir.mkdir()
        report["prepare"] = timed([*xstilts, "prepare", str(experiment_file(base_dir, cache, {}))], REPO)
        base = experiment_file(base_dir, cache, {"num_samples": 1})
        report["baseline_one_trial"] = timed([*xstilts, "sweep", str(base)], REPO)
        full = experiment_file(full_dir, cache, {})
        report["offline_default"] = timed([*xstilts, "sweep", str(full)], REPO)
        report["config_hash"] = hashlib.sha256(full.read_bytes()).hexdigest()[:12]
        exp_dir = full_dir / "runs" / "offline"
        report["disk_after_sweep"] = disk_use(exp_dir)  # winners' checkpoints still kept
        report["evaluate"] = timed([*xstilts, "evaluate", str(exp_dir)], REPO)
        report["disk_after_evaluate"] = disk_use(exp_dir)  # pruned to keep-N + latest
        report["report"] = timed([*xstilts, "report", str(exp_dir)], REPO)
        # The evaluation's size depends on how many distinct (trial, step) encoders won (seeds vary per run).
        winners = RunDir(exp_dir).read_winners()
        report["winners"] = len(winners)
        report["winner_encoders"] = len({(w["trial_id"], w["step"]) for w in winners})
    sweep = report["offline_default"]
    report["ratio_vs_baseline"] = round(sweep["wall_s"] / report["baseline_one_trial"]["wall_s"], 2)
    report["ratio_vs_target_time"] = round(sweep["wall_s"] / TARGET_S, 2)
    report["ratio_vs_target_rss"] = round(sweep["peak_rss_gib"] / TARGET_GIB, 2)
    report["ratio_vs_target_pss"] = round(sweep["peak_pss_gib"] / TARGET_GIB, 2)
    job_s = sweep["wall_s"] + report["evaluate"]["wall_s"] + report["report"]["wall_s"]
    report["job_wall_s"] = round(job_s, 1)
    report["job_ratio_vs_target_time"] = round(job_s / TARGET_JOB_S, 2)
    report["job_peak_pss_gib"] = max(report[k]["peak_pss_gib"] for k in ("offline_default", "evaluate", "report"))
    report["seed"] = 0
    print(json.dumps(report))


if __name__ == "__main__":
    main()
