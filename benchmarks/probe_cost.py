"""What the transfer probe costs, and whether a cheaper probe ranks the same: per milestone, the intermediate
training since the last milestone against the probe (the English fine-tune of every target plus its dev
scoring), for the full probe (`target.steps`) and cheaper ones (fewer fine-tune steps); prints one JSON line
with each option's share of a milestone's wall time and the Spearman correlation of its ranking of
(task, step) with the full probe's.

    .venv/bin/python benchmarks/probe_cost.py [--tasks mnli sst2 hellaswag squad_v2] [--steps 300]
                                              [--cheap 12 25] [--metric mean]

Runs in one process, one thread (as a trial on the offline default), on the offline world; the
intermediate recipe is lr 1e-3, batch 16, milestones every 100 steps. Target: an option that costs <= 25%
of a milestone's wall time while ranking with Spearman >= 0.8 (else the full probe stays the default).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import spearmanr

from xstilts.models.recipe import probe_targets
from xstilts.models.train import TrainConfig, train
from xstilts.models.transfer import fork_and_evaluate
from xstilts.search.config import load_experiment
from xstilts.search.plan import make_plan
from xstilts.tasks.registry import build_registry

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["mnli", "sst2", "hellaswag", "squad_v2"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--cheap", type=int, nargs="+", default=[12, 25])
    ap.add_argument("--metric", default="mean", choices=["mean", "low_resource_mean", "worst"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    registry = build_registry()
    exp, base = load_experiment(REPO / "experiments.yaml", "offline", registry=registry)
    plan = make_plan(exp, base, registry)
    targets = probe_targets(
        plan.encoder, plan.source, [(registry[t], langs) for t, langs in plan.targets], plan.retrieval_layer
    )
    full = replace(plan.target_recipe, device="cpu")
    options = {f"steps_{full.max_steps}": full, **{f"steps_{k}": replace(full, max_steps=k) for k in args.cheap}}
    rows: list[dict] = []
    for task in args.tasks:
        setup = plan.setup_training(registry[task], seed=plan.seed)
        cfg = TrainConfig(max_steps=args.steps, lr=1e-3, batch_size=16, seed=plan.seed, device="cpu")
        cfg = replace(cfg, eval_every=args.every)
        clock = {"last": time.perf_counter()}

        def milestone(snapshot, task=task, clock=clock) -> None:
            row: dict = {"task": task, "step": snapshot.step, "train_s": time.perf_counter() - clock["last"]}
            for name, recipe in options.items():
                t0 = time.perf_counter()
                scores = fork_and_evaluate(snapshot.model, targets, recipe, list(plan.low_resource))
                row[name] = {"seconds": time.perf_counter() - t0, "score": float(scores[args.metric])}
            rows.append(row)
            clock["last"] = time.perf_counter()

        train(setup.model, setup.data, setup.collate, cfg, on_eval=milestone)
    reference = f"steps_{full.max_steps}"
    out: dict = {
        "benchmark": "probe_cost",
        "machine": f"{platform.machine()} 1 thread",
        "tasks": args.tasks,
        "milestones": [(r["task"], r["step"]) for r in rows],
        "metric": args.metric,
        "train_s_per_milestone": round(sum(r["train_s"] for r in rows) / len(rows), 2),
        "options": {},
    }
    for name in options:
        probe_s = sum(r[name]["seconds"] for r in rows) / len(rows)
        share = probe_s / (probe_s + out["train_s_per_milestone"])
        rho = spearmanr([r[reference]["score"] for r in rows], [r[name]["score"] for r in rows]).statistic
        out["options"][name] = {
            "probe_s": round(probe_s, 2),
            "share_of_milestone": round(share, 3),
            "spearman_vs_full": round(float(rho), 3),
            "meets_target": bool(share <= 0.25 and rho >= 0.8),
        }
    out["scores"] = [
        {"task": r["task"], "step": r["step"], **{name: round(r[name]["score"], 2) for name in options}} for r in rows
    ]
    out["target"] = {"share_of_milestone": 0.25, "spearman_vs_full": 0.8}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
