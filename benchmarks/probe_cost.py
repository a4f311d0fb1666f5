"""Which probe predicts the evaluation, and at what cost: candidate probes run on every encoder that an
evaluated run scored (its `evaluation/encoders/` and the pretrained baseline), each ranked against the
evaluation with Spearman's rho (and its bootstrap interval over encoders), on the probed target tasks' mean
and low-resource mean (the report's rank agreement, "probed tasks" scope).

    .venv/bin/python benchmarks/probe_cost.py RUN_DIR [--candidates sweep seeds3 linear langs steps2x] [--jobs 2]

Candidates (each a change of the run's own probe, `target.recipe`):
- sweep: the probe scores the sweep journaled at each milestone (results.parquet; no new work);
- default: the run's probe, run again here (one seed: its difference from `sweep` is the probe's own noise);
- seeds3: the mean of the run's probe over 3 fine-tune seeds;
- steps2x: twice the fine-tune steps;
- linear: the encoder frozen, only the new head trained (4x the steps at lr 1e-3), a linear probe;
- langs: the run's probe scored on every language whose dev files the data holds for the probed tasks.
Runs `--jobs` processes (one thread each), encoders split between them. Prints one JSON line: per candidate
its seconds per encoder (probe work only), its cost relative to `default`, and the two Spearman figures with
intervals; the cheapest that reaches rho >= 0.8 on both is `cheapest_meeting_target`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pandas as pd

CANDIDATES = ("sweep", "default", "seeds3", "steps2x", "linear", "langs")
TARGET_RHO = 0.8


def _plan(run_dir: str):
    from xstilts.search.plan import make_plan
    from xstilts.search.rundir import RunDir

    rd = RunDir(run_dir)
    ctx = rd.context()
    exp = ctx.exp
    return rd, exp, make_plan(ctx, prepare=False)


def _probe_langs(exp, plan, candidate: str) -> list[tuple[str, tuple[str, ...]]]:
    """(task, languages) the candidate scores: the run's, or every dev language the data holds (langs)."""
    if candidate != "langs":
        return list(plan.targets)
    from xstilts.search.splits import split_langs

    return [(t, tuple(split_langs(exp, plan.registry[t], "dev", plan.source))) for t, _ in plan.targets]


def _candidate_probe(plan, candidate: str) -> dict:
    """task -> TargetFineTune of the candidate: the run's probe fine-tunes, changed."""

    def changed(recipe):
        if candidate == "steps2x":
            return replace(recipe, steps=2 * (recipe.steps or 0) or None)
        if candidate == "linear":
            return replace(recipe, steps=4 * (recipe.steps or 0) or None, lr=1e-3, freeze_encoder=True)
        return recipe

    return {task: replace(how, recipe=changed(how.recipe), device="cpu") for task, how in plan.probe.items()}


def _run(args: tuple[str, str, list[tuple[str, str]]]) -> list[dict]:
    """Probe `encoders` ((winner, path) pairs) with `candidate` in this process (one thread)."""
    import torch

    from xstilts.models.heads import from_pretrained, quiet_transformers
    from xstilts.models.setup import probe_targets
    from xstilts.models.transfer import fork_and_evaluate
    from xstilts.tasks.languages import low_resource_langs

    run_dir, candidate, encoders = args
    torch.set_num_threads(1)
    quiet_transformers()
    _, exp, plan = _plan(run_dir)
    targets_langs = _probe_langs(exp, plan, candidate)
    targets = probe_targets(
        plan.encoder, plan.source, [(plan.registry[t], langs) for t, langs in targets_langs], plan.retrieval_layer
    )
    langs = sorted({x for _, ls in targets_langs for x in ls})
    low = low_resource_langs(langs, exp.target.low_resource_max_class)
    probe = _candidate_probe(plan, candidate)
    seeds = [exp.seed + i for i in range(3 if candidate == "seeds3" else 1)]
    rows = []
    for winner, path in encoders:
        model = from_pretrained("retrieval", path)
        started = time.perf_counter()
        scores = [fork_and_evaluate(model, targets, probe, s, low, device="cpu") for s in seeds]
        rows.append(
            {
                "winner": winner,
                "candidate": candidate,
                "seconds": time.perf_counter() - started,
                **{k: sum(float(s[k]) for s in scores) / len(scores) for k in ("mean", "low_resource_mean")},
            }
        )
    return rows


def evaluation_scores(run_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per winner: the evaluation's seed mean of mean and low-resource mean over the probed tasks (test split),
    and the winners with their (trial, step)."""
    from xstilts.search.report.tables import load_headline, robustness_per_seed, winners_table

    head = load_headline(run_dir, "test")
    results = run_dir.read_results()
    winners = winners_table(head, results)
    probed = set(results["target_task"])
    per_seed = robustness_per_seed(head[head["target_task"].isin(probed)], winners)
    return per_seed.groupby("winner")[["mean", "low_resource_mean"]].mean(), winners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--candidates", nargs="+", default=["sweep", "seeds3", "linear", "langs"], choices=CANDIDATES)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    from xstilts.search.report.tables import spearman, spearman_interval
    from xstilts.tasks.registry import BASELINE

    rd, _, plan = _plan(args.run_dir)
    evaluated, winners = evaluation_scores(rd)
    saved = winners[
        [rd.has_encoder(w) or t == BASELINE for w, t in zip(winners["winner"], winners["intermediate_task"])]
    ]
    encoders = saved.drop_duplicates(["trial_id", "step"])  # winners sharing an encoder: the one it is saved as
    paths = [
        (w, plan.encoder if task == BASELINE else str(rd.path / rd.encoder_name(w)))
        for w, task in zip(encoders["winner"], encoders["intermediate_task"])
    ]
    evaluated = evaluated.reindex(encoders["winner"])
    rows: list[dict] = []
    if "sweep" in args.candidates:
        probe = rd.read_results().drop_duplicates(["trial_id", "step"]).set_index(["trial_id", "step"])
        for w, t, s in zip(encoders["winner"], encoders["trial_id"], encoders["step"]):
            m = probe.loc[(t, int(s))]
            rows.append(
                {
                    "winner": w,
                    "candidate": "sweep",
                    "seconds": 0.0,
                    "mean": m["mean"],
                    "low_resource_mean": m["low_resource_mean"],
                }
            )
    work = [(args.run_dir, c, paths[i :: args.jobs]) for c in args.candidates if c != "sweep" for i in range(args.jobs)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for part in pool.map(_run, work):
            rows += part
    table = pd.DataFrame(rows)
    out: dict = {
        "benchmark": "probe_cost",
        "run_dir": args.run_dir,
        "machine": f"{platform.machine()}, {args.jobs} process(es) x 1 thread",
        "encoders": len(paths),
        "candidates": {},
    }
    base_s = table.loc[table["candidate"] == "default", "seconds"].mean() if "default" in args.candidates else None
    for c, g in table.groupby("candidate", sort=False):
        g = g.set_index("winner").reindex(evaluated.index)
        entry: dict = {"seconds_per_encoder": round(float(g["seconds"].mean()), 1)}
        if base_s:
            entry["cost_vs_default"] = round(float(g["seconds"].mean() / base_s), 2)
        for summary in ("mean", "low_resource_mean"):
            lo, hi = spearman_interval(g[summary], evaluated[summary])
            rho = spearman(g[summary], evaluated[summary])
            entry[summary] = {"spearman": round(rho, 3), "interval": [round(lo, 3), round(hi, 3)]}
        entry["meets_target"] = all(entry[s]["spearman"] >= TARGET_RHO for s in ("mean", "low_resource_mean"))
        out["candidates"][c] = entry
    meeting = [(v["seconds_per_encoder"], c) for c, v in out["candidates"].items() if v["meets_target"]]
    out["cheapest_meeting_target"] = min(meeting)[1] if meeting else None
    out["scores"] = table.round(3).to_dict(orient="records")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
