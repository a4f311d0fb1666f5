"""Does the search pay? ASHA + TPE (the sweep as `xstilts sweep` runs it) against the exhaustive grid over the
same small offline space: the best score each found and the intermediate training steps each spent; prints
one JSON line.

    .venv/bin/python benchmarks/asha_vs_grid.py [--tasks mnli qqp sst2 none] [--steps 100 200 300]
                                                [--lr 1e-3 3e-3] [--num-samples 8] [--noise-seeds 3]

The space is discrete so both search the same points: task x steps x lr (batch 16). The grid runs every
point once (the baseline `none` once) without early stopping; the sweep draws --num-samples points with
TPE and stops trials with ASHA (grace 100, reduction 2, as the offline default). A score is any
milestone's probe `mean` (each milestone is a (task, step) candidate). Run-to-run noise: the baseline is run
again under --noise-seeds other seeds and the spread of its score reported beside the gap between the two
searches. Target: within 0.5 points of the grid's best with at most 1/3 of its steps.

    .venv/bin/python benchmarks/asha_vs_grid.py --replay RUN_DIR [--replay-seeds 5] [--replay-num-samples K]
        [--replay-grace G]

Replay mode, no new training: RUN_DIR is a finished, evaluated run (the real bench's). The grid is every
(task, lr, step) the run's evaluation scored, each point counted as a run of its own steps. ASHA + TPE is the
run's own sweep, rerun with `xstilts sweep --simulate RUN_DIR` (the real driver; each trial replays the
run's journaled milestone of the same task nearest in step and lr, moved by seeded noise) under
--replay-seeds search seeds. Each replay picks its best milestone by the sweep's metric; its regret is the
evaluation's best (task, lr, step) minus the evaluation of the pick, in points of the low-resource mean and
of the XTREME-style score (mean over tasks of the mean over languages), test split, averaged over target
seeds. A pick the evaluation never scored is skipped and counted, never invented. Steps spent count each
trial's steps to its last milestone plus, under the wsd schedule, every milestone's cooldown so far; for the
grid, each point's steps plus its one cooldown. Prints one JSON line with the regrets' mean and t-interval
over replay seeds and the steps each search spent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def spent(run_dir: Path, metric: str) -> dict:
    """Best metric over every reported milestone, steps trained (each trial's last step) and trial count."""
    from ray.tune import ExperimentAnalysis

    frames = [f for f in ExperimentAnalysis(str(run_dir)).trial_dataframes.values() if not f.empty]
    best = max(float(f[metric].max()) for f in frames)
    return {"best": best, "steps": int(sum(f["step"].max() for f in frames)), "trials": len(frames)}


def evaluated_points(run_dir: Path) -> dict[tuple[str, float, int], dict[str, float]]:
    """(task, lr, step) -> the evaluation's low-resource mean and XTREME-style score (test split, headline
    metric, averaged over target seeds), averaged over the trials of that point (trials that differ only in
    seed or batch size are one point of the grid)."""
    from xstilts.search.pipeline import load_results

    milestones, evaluation = load_results(run_dir)
    if evaluation.empty:
        raise SystemExit(f"{run_dir}: no evaluation to replay against (run `xstilts evaluate` first)")
    configs = milestones.drop_duplicates("trial_id").set_index("trial_id")[["intermediate_task", "lr"]]
    test = evaluation[evaluation["headline"] & (evaluation["split"] == "test") & (evaluation["lang"] != "en")]
    per_lang = test.groupby(["trial_id", "step", "target_task", "lang"], observed=True).agg(
        score=("score", "mean"), low=("low_resource", "first")
    )
    per_point: dict[tuple[str, float, int], list[dict[str, float]]] = {}
    for (trial, step), rows in per_lang.groupby(level=["trial_id", "step"]):
        task, lr = configs.loc[trial, "intermediate_task"], float(configs.loc[trial, "lr"])
        by_task = rows.groupby(level="target_task", observed=True)["score"].mean()
        low = rows[rows["low"].astype(bool)].groupby(level="target_task", observed=True)["score"].mean()
        scores = {"low_resource_mean": float(low.mean()), "xtreme": float(by_task.mean())}
        per_point.setdefault((str(task), lr, int(step)), []).append(scores)
    return {k: {m: float(np.mean([v[m] for v in vs])) for m in vs[0]} for k, vs in per_point.items()}


def replay(run_dir: Path, seeds: int, num_samples: int | None, grace: int | None = None) -> dict:
    """ASHA + TPE replayed on RUN_DIR's milestones under `seeds` search seeds, against the evaluated grid."""
    import subprocess
    import sys

    from scipy import stats

    from xstilts.models.train import TrainConfig, cooldown_steps
    from xstilts.models.train import spent_steps as steps_spent
    from xstilts.search.rundir import RunDir
    from xstilts.tasks.registry import BASELINE, build_registry

    run_dir = run_dir.resolve()
    points = evaluated_points(run_dir)
    exp = RunDir(run_dir).read_experiment(build_registry())
    schedule = TrainConfig(
        max_steps=max(exp.intermediate.steps),
        eval_every=exp.intermediate.milestone_every,
        schedule=exp.intermediate.schedule,
        cooldown_fraction=exp.intermediate.cooldown_fraction,
    )
    # each grid point a run of its own steps; under wsd plus the one cooldown of its last milestone
    grid_steps = sum(step + cooldown_steps(schedule, step) for (task, _, step) in points if task != BASELINE)
    # the best point of the space the search chooses from, `none` included (it is one of the sweep's choices)
    best = {k: max(v[k] for v in points.values()) for k in ("low_resource_mean", "xtreme")}
    tmp = Path(tempfile.mkdtemp(prefix="xstilts-replay-"))
    raw = exp.model_dump(mode="json")
    base = Path(RunDir(run_dir).read_meta()["base"])
    for key in ("source", "model", "cache_dir"):  # the run's paths, relative to its experiments file
        if raw[key] not in ("offline", "hub"):
            raw[key] = str((base / raw[key]).resolve())
    raw["storage_path"] = str(tmp / "runs")
    regrets: dict[str, list[float]] = {"low_resource_mean": [], "xtreme": []}
    spent_steps, skipped, picks = [], 0, []
    for seed in range(seeds):
        raw["search"] = {**raw["search"], "seed": seed}
        if num_samples:
            raw["search"]["num_samples"] = num_samples
        if grace:
            raw["search"]["asha"] = {**raw["search"].get("asha", {}), "grace_period": grace}
        name = f"replay{seed}"
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump({name: raw}, sort_keys=False))
        cmd = [sys.executable, "-m", "xstilts", "sweep", str(tmp / f"{name}.yaml"), "-n", name]
        done = subprocess.run([*cmd, "--simulate", str(run_dir)], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"replay {seed} failed: {done.stderr[-2000:]}")
        table = RunDir(tmp / "runs" / f"{name}.simulated").read_results().drop_duplicates(["trial_id", "step"])
        # steps spent: each trial's own up to its last milestone, plus every milestone's wsd cooldown so far
        last = table.groupby("trial_id")["step"].max()
        spent_steps.append(int(sum(steps_spent(schedule, int(step)) for step in last)))
        top = table.loc[table[exp.search.metric].idxmax()]
        pick = (str(top["intermediate_task"]), float(top["lr"]), int(top["step"]))
        picks.append(list(pick))
        if pick not in points:
            skipped += 1
            continue
        for k in regrets:
            regrets[k].append(best[k] - points[pick][k])

    def interval(values: list[float]) -> dict:
        if not values:
            return {"mean": None, "low": None, "high": None, "n": 0}
        mean = float(np.mean(values))
        if len(values) < 2 or float(np.std(values)) == 0.0:
            return {"mean": round(mean, 3), "low": round(mean, 3), "high": round(mean, 3), "n": len(values)}
        low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
        return {"mean": round(mean, 3), "low": round(float(low), 3), "high": round(float(high), 3), "n": len(values)}

    return {
        "benchmark": "asha_vs_grid --replay",
        "run": str(run_dir),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "grid": {"points": len(points), "steps": grid_steps},
        "asha_grace_period": grace or exp.search.asha.grace_period,
        "num_samples": num_samples or exp.search.num_samples,
        "asha_tpe": {"replay_seeds": seeds, "steps_mean": float(np.mean(spent_steps)), "picks": picks},
        "skipped_picks_not_evaluated": skipped,
        "regret_points": {k: interval(v) for k, v in regrets.items()},
        "ratio_steps_asha_vs_grid": round(float(np.mean(spent_steps)) / grid_steps, 3) if grid_steps else None,
        "best_evaluated": {k: round(v, 3) for k, v in best.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replay", type=Path, help="a finished, evaluated run directory: replay, no training")
    ap.add_argument("--replay-seeds", type=int, default=5)
    ap.add_argument(
        "--replay-num-samples",
        type=int,
        help="trials of each replayed search (default: the run's own search.num_samples; raise it to let TPE "
        "propose past the coverage pass)",
    )
    ap.add_argument(
        "--replay-grace",
        type=int,
        help="ASHA's grace period in the replays (default: the run's own search.asha.grace_period; below the "
        "longest duration ASHA may stop trials early)",
    )
    ap.add_argument("--tasks", nargs="+", default=["mnli", "qqp", "sst2", "none"])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 200, 300])
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-3, 3e-3])
    ap.add_argument("--num-samples", type=int, default=8)
    ap.add_argument("--noise-seeds", type=int, default=3)
    args = ap.parse_args()
    if args.replay is not None:
        print(json.dumps(replay(args.replay, args.replay_seeds, args.replay_num_samples, args.replay_grace)))
        return

    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    import xstilts.search.cluster as cluster
    import xstilts.search.sweep.driver as sweep
    from xstilts.search.config import ExperimentContext, load_experiment
    from xstilts.search.plan import make_plan
    from xstilts.search.sweep.trial import run_trial
    from xstilts.tasks.registry import BASELINE, build_registry

    registry = build_registry()
    tmp = Path(tempfile.mkdtemp(prefix="xstilts-asha-grid-"))
    raw = yaml.safe_load((REPO / "experiments.yaml").read_text())["offline"]
    raw.update(cache_dir=str(REPO / ".cache"), storage_path=str(tmp / "runs"))
    raw["intermediate"].update(tasks=args.tasks, steps=args.steps)
    raw["search"].update(num_samples=args.num_samples)
    raw["search"]["space"] = {"lr": {"low": min(args.lr), "high": max(args.lr)}, "batch_size": [16]}
    (tmp / "experiments.yaml").write_text(yaml.safe_dump({"offline": raw}))
    exp, base = load_experiment(tmp / "experiments.yaml", "offline", registry=registry)
    ctx = ExperimentContext(exp, base, "asha", registry)  # the offline experiment, run as `asha`
    metric = exp.search.metric

    def discrete(exp):  # the sweep's space with lr as the grid's choices, so both search the same points
        return {
            "intermediate_task": tune.choice(args.tasks),
            "intermediate_steps": tune.choice(args.steps),
            "lr": tune.choice(args.lr),
            "batch_size": tune.choice([16]),
        }

    sweep._param_space = discrete
    t0 = time.perf_counter()
    sweep.run_search(ctx)
    asha_s = time.perf_counter() - t0
    asha = spent(tmp / "runs" / "asha", metric)

    point = {"batch_size": 16, "seed": exp.seed}
    grid = [
        {**point, "intermediate_task": t, "intermediate_steps": s, "lr": lr}
        for t in args.tasks
        if t != BASELINE
        for s in args.steps
        for lr in args.lr
    ]
    noise = [
        {**point, "intermediate_task": BASELINE, "intermediate_steps": min(args.steps), "lr": args.lr[0], "seed": s}
        for s in range(exp.seed, exp.seed + 1 + args.noise_seeds)
    ]
    plan = make_plan(ctx)
    cluster.init_ray(None, exp)
    import ray

    try:
        trainable = tune.with_resources(tune.with_parameters(run_trial, plan=plan), {"cpu": exp.resources.cpu})
        t0 = time.perf_counter()
        tune.Tuner(
            trainable,
            param_space={**discrete(exp), "seed": exp.seed},  # every point sets its own seed
            tune_config=tune.TuneConfig(
                metric=metric,
                mode="max",
                search_alg=BasicVariantGenerator(points_to_evaluate=grid + noise, max_concurrent=2),
                num_samples=len(grid) + len(noise),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(name="grid", storage_path=str(tmp / "runs"), verbose=0),
        ).fit()
        grid_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    full = spent(tmp / "runs" / "grid", metric)
    from ray.tune import ExperimentAnalysis

    baseline_scores = [
        float(f[metric].iloc[-1])
        for f in ExperimentAnalysis(str(tmp / "runs" / "grid")).trial_dataframes.values()
        if not f.empty and f["config/intermediate_task"].iloc[-1] == BASELINE
    ]
    gap = full["best"] - asha["best"]
    print(
        json.dumps(
            {
                "benchmark": "asha_vs_grid",
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "space": {"tasks": args.tasks, "steps": args.steps, "lr": args.lr, "batch_size": [16]},
                "metric": metric,
                "grid": {**full, "wall_s": round(grid_s, 1), "includes_noise_runs": len(noise)},
                "asha_tpe": {**asha, "wall_s": round(asha_s, 1), "num_samples": args.num_samples},
                "best_gap_points": round(gap, 3),
                "ratio_steps_asha_vs_grid": round(asha["steps"] / full["steps"], 3),
                "baseline_scores_by_seed": [round(s, 3) for s in baseline_scores],
                "baseline_seed_std": round(statistics.stdev(baseline_scores), 3) if len(baseline_scores) > 1 else None,
                "meets_target": bool(gap <= 0.5 and asha["steps"] <= full["steps"] / 3),
                "target": {"best_gap_points": 0.5, "ratio_steps_asha_vs_grid": 1 / 3},
            }
        )
    )


if __name__ == "__main__":
    main()
