"""Does a wsd milestone stand in for a separate run of that length? (issue 34; Hägele et al. 2024, "Scaling Laws
and Compute-Optimal Training Beyond Fixed Training Durations", arXiv 2405.18392)

    .venv/bin/python benchmarks/wsd_vs_separate.py RUN_DIR [--task sst2] [--durations 40 80] [--seeds 3]
        [--targets udpos panx] [--jobs 2]

On the data, encoder and probe of RUN_DIR's experiment (a run directory of `xstilts sweep`, e.g. the real
bench's), each seed trains the intermediate task twice:
- wsd: one run at a constant rate after the experiment's fixed warm-up, whose milestone at each duration d is a
  fork cooled down for cooldown_fraction x d steps (what the sweep probes and evaluates);
- separate: for each d, its own run of d + cooldown steps (the fork's total) with the linear schedule's full
  warm-up and decay to 0.
Every model is probed (the experiment's probe, on `--targets`, same fine-tune seed for both). Prints one JSON
line: per (d, variant) the mean over seeds of the probe's mean and low-resource mean, the seed standard
deviation, and per d the paired difference wsd - separate with its standard error over seeds and whether it is
within seed noise (|difference| <= 2 standard errors of the difference, and <= the larger seed SD).
Runs `--jobs` processes, one thread each.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

SUMMARIES = ("mean", "low_resource_mean")


def _plan(run_dir: str):
    from xstilts.search.plan import make_plan
    from xstilts.search.rundir import RunDir

    rd = RunDir(run_dir)
    ctx = rd.context()
    exp = ctx.exp
    return exp, make_plan(ctx, prepare=False)


def _run(args: tuple[str, str, str, int, list[int], list[str]]) -> list[dict]:
    """One seed's runs of one variant: the probe's summaries per duration."""
    import torch

    from xstilts.models.heads import quiet_transformers
    from xstilts.models.setup import probe_targets
    from xstilts.models.train import TrainConfig, cooldown_steps, train
    from xstilts.models.transfer import fork_and_evaluate

    run_dir, variant, task_name, seed, durations, target_names = args
    torch.set_num_threads(1)
    quiet_transformers()
    exp, plan = _plan(run_dir)
    task = plan.registry[task_name]
    chosen = [(plan.registry[t], langs) for t, langs in plan.targets if t in target_names]
    targets = probe_targets(plan.encoder, plan.source, chosen, plan.retrieval_layer)
    low = list(plan.low_resource)
    lr, batch = exp.search.space.lrs[0], exp.search.space.batch_size[0]
    wsd = TrainConfig(
        max_steps=max(durations), lr=lr, batch_size=batch, seed=seed, device="cpu", precision=plan.precision,
        group_by_length=plan.group_by_length, schedule="wsd", warmup_steps=plan.warmup_steps,
        cooldown_fraction=plan.cooldown_fraction, cooldown_shape=plan.cooldown_shape,
    )  # fmt: skip
    rows = []

    def probed(model, d: int, started: float) -> None:
        scores = fork_and_evaluate(model, targets, plan.probe, seed, low, device="cpu")
        rows.append(
            {"variant": variant, "duration": d, "seed": seed, "seconds": time.perf_counter() - started}
            | {k: float(scores[k]) for k in SUMMARIES}
        )

    if variant == "wsd":
        return _wsd_at(plan, task, wsd, durations, probed, rows)
    for d in durations:
        setup, started = plan.setup_training(task, seed), time.perf_counter()
        total = d + cooldown_steps(wsd, d)
        cfg = replace(wsd, max_steps=total, schedule="linear", warmup_steps=None)
        train(setup.model, setup.data, setup.collate, cfg)
        probed(setup.model, d, started)
    return rows


def _wsd_at(plan, task, wsd, durations: list[int], probed, rows: list[dict]) -> list[dict]:
    """The wsd run with a milestone at each duration (eval_every: their greatest common divisor), probed there."""
    import math

    from xstilts.models.train import train

    step = math.gcd(*durations)
    cfg = replace(wsd, eval_every=step)
    setup, started = plan.setup_training(task, wsd.seed), time.perf_counter()

    def on_eval(snap) -> None:
        if snap.step in durations:
            probed(snap.model, snap.step, started)

    train(setup.model, setup.data, setup.collate, cfg, on_eval=on_eval)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--durations", type=int, nargs="+", default=[40, 80])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", nargs="+", default=["udpos", "panx"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = [
        (args.run_dir, variant, args.task, seed, args.durations, args.targets)
        for seed in range(args.seeds)
        for variant in ("wsd", "separate")
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = [r for part in pool.map(_run, jobs) for r in part]
    out: dict = {
        "machine": f"{platform.machine()}, {args.jobs} processes x 1 thread",
        "task": args.task,
        "targets": args.targets,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    for d in args.durations:
        at = {v: {r["seed"]: r for r in rows if r["duration"] == d and r["variant"] == v} for v in ("wsd", "separate")}
        for k in SUMMARIES:
            per = {v: [at[v][s][k] for s in sorted(at[v])] for v in at}
            diffs = [a - b for a, b in zip(per["wsd"], per["separate"])]
            sd = {v: statistics.stdev(x) if len(x) > 1 else float("nan") for v, x in per.items()}
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            diff = statistics.fmean(diffs)
            out[f"{d}/{k}"] = {
                **{v: round(statistics.fmean(x), 2) for v, x in per.items()},
                **{f"{v}_seed_sd": round(s, 2) for v, s in sd.items()},
                "wsd_minus_separate": round(diff, 2),
                "se": round(se, 2),
                "within_seed_noise": bool(abs(diff) <= 2 * se and abs(diff) <= max(sd.values())),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
