"""The real bench: the whole job (sweep, evaluation, report) on a kit of real data and a real encoder.

    .venv/bin/python benchmarks/real_bench.py KIT [--out DIR] [--write-only]

KIT holds `data/` (XTREME-format files laid out as `source: DIR` reads them: `<hub id>/<config>/<split>.jsonl`)
and `encoder/` (a pretrained checkpoint in the XLM-R layout). The script scans what KIT holds and writes an
experiment for it (`DIR/experiments.yaml`, experiment `realbench`), so a kit with more tasks or languages gets
them: every intermediate task whose English training file is there, plus `none`; the probed targets udpos,
panx, tatoeba and xquad in a spread of high- and low-resource languages the kit has; and the evaluation of every
target it can train or score, in all the languages it holds, at every milestone of the sweep, each
configuration trained with 3 intermediate seeds (`search.replicates`) and each replicate's target fine-tune
with its own seed
(`evaluation.every_milestone`), a target without test files scored on its validation split
(`evaluation.test_split`, marked in the report). Then it runs `xstilts sweep`, `xstilts evaluate` and
`xstilts report` on it and prints one JSON line: each stage's wall time, the peak RSS and PSS summed over the
driver's process tree (Ray's GCS, raylet and workers), the probe -> evaluation rank agreement (Spearman with
its bootstrap interval) and `none`'s test scores per task and language. Targets: the whole job in 60 minutes
and 12 GiB on 2 cores (75 minutes with the replicates).

`--seed S` reruns the same job with other seeds (the experiment's and the search's): two runs side by side
show whether a finding survives a rerun. `--smoke` runs the same job at a few steps and rows (minutes:
`make test-real` runs it); `--write-only` writes the experiment and stops (`xstilts sweep
DIR/experiments.yaml -n realbench --dry-run` then shows its recipes and the kit's training sizes).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline_sweep import timed  # noqa: E402  (the same process-tree memory sampling)

from xstilts.search.rundir import RunDir  # noqa: E402
from xstilts.tasks.languages import JOSHI_CLASS  # noqa: E402
from xstilts.tasks.loading import DataSource, has_files  # noqa: E402
from xstilts.tasks.registry import BASELINE, build_registry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NAME = "realbench"
TARGET_S, TARGET_GIB = 3600.0, 12.0
# probed at each milestone: tagging, NER, retrieval and one QA target (XQuAD: 11 languages, dev = test)
PROBED = ("udpos", "panx", "tatoeba", "xquad")
# probe languages in order of preference: high-resource (Joshi class 4-5) then low-resource (<= 3) ones
PREFERRED = ("de", "fr", "ru", "zh", "sw", "ur", "el", "hi", "tr", "ar", "fi", "vi")
PROBE_LANGS = 4  # non-English probe languages (2 high-, 2 low-resource); with en, 5 dev sets a probed task
LOW_CLASS = 3
REPLICATES = 3  # search.replicates: each configuration trained with 3 intermediate seeds
SAMPLE_S = 2.0  # memory sampling period: a job of many minutes, whose peaks last longer than that


def scan(kit: Path) -> dict:
    """What the kit holds: intermediate tasks with an English training file, and per target the languages
    of each split whose files are there."""
    registry, source = build_registry(), DataSource("local", kit / "data")
    intermediate = [
        s.name
        for s in registry.values()
        if s.role == "intermediate"
        and s.sources
        and all(has_files(source, registry[m] if s.members else s, "train", "en") for m in (s.members or (s.name,)))
    ]
    targets = {}
    for spec in registry.values():
        if spec.role != "target":
            continue
        held = {
            split: [x for x in (spec.eval_langs if split != "train" else ("en",)) if has_files(source, spec, split, x)]
            for split in spec.sources
        }
        trainable = spec.recipe is None or bool(held.get("train"))
        scored = sorted({x for split in ("dev", "test") for x in held.get(split, [])})
        if trainable and scored:
            targets[spec.name] = held
    return {"intermediate": intermediate, "targets": targets}


def probe_languages(targets: dict) -> list[str]:
    """English and up to PROBE_LANGS others with dev sets in a probed target, high- and low-resource alike."""
    dev = {x for t in PROBED if t in targets for x in targets[t].get("dev", [])}
    ordered = [x for x in PREFERRED if x in dev] + sorted(dev - set(PREFERRED) - {"en"})
    high = [x for x in ordered if JOSHI_CLASS[x] > LOW_CLASS]
    low = [x for x in ordered if JOSHI_CLASS[x] <= LOW_CLASS]
    half = PROBE_LANGS // 2
    picked = high[: max(half, PROBE_LANGS - len(low))] + low[: max(half, PROBE_LANGS - len(high))]
    return ["en", *picked[:PROBE_LANGS]]


def experiment(kit: Path, held: dict) -> dict:
    """The bench's experiment for what `scan` found (sizes explained in EXPERIMENT_NOTES)."""
    targets = held["targets"]
    probed = [t for t in PROBED if t in targets]
    langs = probe_languages(targets)
    evaluated = list(targets)
    stand_ins = {t: "dev" for t, h in targets.items() if not h.get("test") and h.get("dev")}
    return {
        "description": f"The real bench on {kit}: a real encoder and real XTREME-format data, sized for 2 cores.",
        "source": str(kit / "data"),
        "model": str(kit / "encoder"),
        "seed": 0,
        "device": "auto",
        "storage_path": "runs",
        "cache_dir": ".cache",
        "intermediate": {
            "tasks": [*held["intermediate"], BASELINE],
            "steps": [20, 40],
            "milestone_every": 20,
            "group_by_length": True,
        },
        "target": {
            "tasks": probed,
            "languages": langs,
            "recipe": {"steps": 24, "lr": 3.0e-4, "batch_size": 16, "grad_accum": 1, "eval_every": 0, "max_len": 128}
            | {"group_by_length": True},
            "recipes": {
                t: r
                for t, r in {
                    "udpos": {"lr": 1.0e-3},
                    "panx": {"steps": 32},
                    "xquad": {"steps": 16, "lr": 1.0e-4, "batch_size": 8, "max_len": 192},
                }.items()
                if t in probed
            },
            "max_eval_rows": 32,
            "low_resource_max_class": LOW_CLASS,
            "retrieval_layer": 12,
        },
        "search": {
            "num_samples": 1 + len(held["intermediate"]),
            "metric": "mean",
            "max_concurrent": 2,
            "keep_checkpoints": 4,
            "space": {"lrs": [3.0e-5], "batch_size": [8]},
            "asha": {"grace_period": 40, "reduction_factor": 2},
            "replicates": REPLICATES,
        },
        "resources": {"cpu": 1, "gpu": 0},
        "evaluation": {
            "tasks": evaluated,
            "seeds": 1,
            "every_milestone": True,
            "test_split": stand_ins,
            "max_eval_rows": 24,
            "retrieval_rows": 200,
            "recipe": {"steps": 32, "lr": 3.0e-4, "batch_size": 16, "grad_accum": 1, "eval_every": 0, "max_len": 128}
            | {"group_by_length": True},
            "recipes": {
                t: r
                for t, r in {
                    "udpos": {"lr": 1.0e-3},
                    "panx": {"steps": 40},
                    "xquad": {"steps": 24, "lr": 1.0e-4, "batch_size": 8, "max_len": 192},
                    "mlqa": {"steps": 24, "lr": 1.0e-4, "batch_size": 8, "max_len": 192},
                }.items()
                if t in evaluated
            },
        },
    }


EXPERIMENT_NOTES = """\
# Written by benchmarks/real_bench.py from what the kit holds. Sizes: the whole job (sweep, evaluation,
# report), each configuration trained 3 times (search.replicates: 3 intermediate seeds) with wsd cooldowns,
# must fit 60 minutes and 12 GiB on 2 cores with a 12-layer, 384-wide encoder in float32. bfloat16 would not
# pay for itself here: this machine's CPU has AVX-512 bf16 but no AMX tiles, and torch 2.13's bf16 autocast
# made a training step of the kit's encoder 1.44 times as slow (benchmarks/README.md, step_throughput).
# Measured on runs of earlier, larger sizes (one seed, durations of 40 and 80 steps, 48-step PAN-X, 24-step
# QA probes, 3 target seeds): a probe (4 targets x 5 languages) cost about 2.4 core-minutes; an
# intermediate step of 8 rows about 5 s for squad_v2 (384-token contexts), 2.3 s for commonsense_qa (5
# choices a row) and 0.65 s for sst2; per encoder and target seed the evaluation's UD POS job about 1
# minute, PAN-X 35 s and the QA fine-tune (XQuAD + MLQA, 32 steps) 2.5 minutes, plus retrieval (Tatoeba,
# BUCC) once per encoder: 6.5 minutes an encoder on 2 cores, 64 minutes for 7 encoders. Replicates triple
# the encoders (3 tasks x 2 durations x 3 seeds + `none` = 19), so every per-encoder cost had to fall by
# about three times. Cut, and why (and measured at these sizes, 2026-12-08: the sweep took 37.7 minutes --
# 21 probes of about 130 s each are two thirds of it, the replicates' training the rest -- and the evaluation
# about 3 minutes of the 2 cores per encoder and replicate, 21 of them: about 100 minutes in all, over the 75
# of the target. The next cuts are the probe, the largest single cost: fewer probe fine-tune steps or a
# frozen-encoder probe (benchmarks/probe_cost.py), and the evaluation's per-language scoring):
# - intermediate: every task with an English training file (the kit: commonsense_qa, squad_v2, sst2) plus
#   `none`, one configuration each (search.num_samples = tasks + 1, coverage first), each trained 3 times,
#   2 durations (20 and 40 steps, a milestone every 20) at one learning rate and batch 8. The wsd schedule
#   (the default) cools each milestone down for a fifth of its steps: a replicate trains 40 + 4 + 8 steps.
#   Cut: the 80-step duration of the last bench (half of every trial's training; the duration question is
#   asked between 20 and 40 steps, within each replicate) and the second learning rate of earlier benches
#   (comparing the best trial at each step across two learning rates compared learning rates, not
#   durations). ASHA's grace period is the longest duration, so no trial is stopped early and every
#   milestone is there to evaluate; keep_checkpoints 4 keeps them all, so none is retrained.
# - fine-tunes of a few dozen steps need a high lr (the published 1e-5 needs thousands of steps). Measured on
#   this kit's encoder (English/German/Russian dev F1, 64 rows): UD POS 32 steps at 1e-4 about 22, at 3e-4
#   83/80/74, at 1e-3 87/81/78; PAN-X 64 steps at 3e-4 66/64/46, at 1e-3 35/28/17. Hence UD POS at 1e-3 and
#   PAN-X at 3e-4. QA (XQuAD, MLQA: one fine-tune on the SQuAD file serves both) at lr 1e-4, batch 8, 192
#   tokens: `benchmarks/qa_recipe.py` measured `none`'s English XQuAD F1 24.0 after 64 steps at 1e-4 and 18.3
#   at 3e-4 (EM 14.6, 12.5; the empty answer scores 0). The QA jobs are the bench's most expensive: the
#   probe fine-tunes 16 QA steps, the evaluation 24, so QA scores stay low and tell encoders apart little.
# - probed targets: UD POS (24 steps), PAN-X (32), Tatoeba and XQuAD (the QA target; 11 languages with dev =
#   test), 32 dev rows per language (a seeded sample, the same rows for every encoder) in English and 4
#   other languages, two high- and two low-resource. Each replicate is probed, ASHA and TPE see the mean.
# - evaluation: every target the kit can train or score -- UD POS (32 steps), PAN-X (40; dev stands in for
#   test), XQuAD and MLQA (24; MLQA's dev stands in), BUCC zh (dev stands in) and Tatoeba, in every
#   language the kit holds, 24 rows per split and language, at every milestone. One target seed per
#   replicate (evaluation.seeds: 1): the seeds are nested in the replicates, so each encoder's 3 replicates
#   carry 3 target seeds and the intervals resample both (cut: 3 target seeds per replicate, 3 times the
#   fine-tunes). Retrieval reads 200 rows (evaluation.retrieval_rows): Tatoeba searches 200 candidates,
#   BUCC 200 gold pairs in pools of 1,600 sentences a side. With 48 rows `none` scored 100 on 9 of 36
#   Tatoeba languages and at least 97.9 on 23; with 200, at least 99 on 1 of 30 (3%).
#   Not evaluated: XNLI and PAWS-X, which have no English training file in the kit.
# - batches of sentences of similar length (group_by_length): UD English averages 23 pieces a sentence but a
#   batch drawn at random pads to about 68, three times the work.
"""


def smoke(exp: dict) -> dict:
    """The same experiment at a few steps, rows and seeds: every stage and path of the job in a few minutes
    (make test-real): 3 intermediate tasks x 1 duration + `none` = 4 encoders, 2 seeds, one replicate (the
    offline world's e2e test runs replicates; this runs the real data's paths within test-real's budget)."""
    exp["intermediate"] |= {"steps": [2], "milestone_every": 2}
    for stage in (exp["target"], exp["evaluation"]):
        stage["recipe"] |= {"steps": 2}
        for override in stage["recipes"].values():
            override.pop("steps", None)
    exp["target"]["max_eval_rows"] = 8
    exp["search"]["asha"]["grace_period"] = 2
    exp["evaluation"]["max_eval_rows"] = 8
    exp["evaluation"]["retrieval_rows"] = 16
    exp["evaluation"]["seeds"] = 2
    exp["search"]["replicates"] = 1
    return exp


def write_experiment(kit: Path, out: Path, small: bool = False, cache_dir: Path | None = None, seed: int = 0) -> Path:
    held = scan(kit)
    if not held["targets"]:
        sys.exit(f"{kit}/data: no target task with data (is it a kit laid out as <hub id>/<config>/<split>.jsonl?)")
    if not (kit / "encoder" / "config.json").is_file():
        sys.exit(f"{kit}/encoder/config.json: not found (the kit's encoder)")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "experiments.yaml"
    exp = smoke(experiment(kit, held)) if small else experiment(kit, held)
    if cache_dir is not None:
        exp["cache_dir"] = str(cache_dir.resolve())
    exp["seed"] = seed  # every seed of the job: trials' intermediate seeds, target fine-tunes, the search's
    exp["search"]["seed"] = seed
    path.write_text(EXPERIMENT_NOTES + yaml.safe_dump({NAME: exp}, sort_keys=False))
    return path


def none_scores(report: Path) -> dict:
    """`none`'s test score per target task and language (the report's reference table)."""
    ref = pd.read_parquet(report / "tables" / "reference.parquet")
    return {
        str(task): {r["lang"]: round(float(r["none"]), 2) for _, r in g.iterrows()}
        for task, g in ref.groupby("target_task", observed=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kit", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "realbench")
    parser.add_argument("--write-only", action="store_true", help="write the experiment and stop")
    parser.add_argument("--seed", type=int, default=0, help="rerun the bench with other seeds (a replication)")
    parser.add_argument("--cache-dir", type=Path, help="the experiment's cache_dir (default: .cache beside it)")
    parser.add_argument("--smoke", action="store_true", help="a few steps and rows: checks the job, not the science")
    args = parser.parse_args()
    kit, out = args.kit.resolve(), args.out.resolve()
    path = write_experiment(kit, out, small=args.smoke, cache_dir=args.cache_dir, seed=args.seed)
    if args.write_only:
        print(path)
        return
    xstilts = [sys.executable, "-m", "xstilts"]
    run_dir = out / "runs" / NAME
    stages = {}
    started = time.perf_counter()
    stages["sweep"] = timed([*xstilts, "sweep", str(path), "-n", NAME], REPO, every=SAMPLE_S)
    stages["evaluate"] = timed([*xstilts, "evaluate", str(run_dir)], REPO, every=SAMPLE_S)
    stages["report"] = timed([*xstilts, "report", str(run_dir)], REPO, every=SAMPLE_S)
    total = time.perf_counter() - started
    peak = max(s["peak_rss_gib"] for s in stages.values())
    peak_pss = max(s["peak_pss_gib"] for s in stages.values())
    agreement = pd.read_parquet(run_dir / "report" / "tables" / "rank_agreement.parquet")
    print(
        json.dumps(
            {
                "bench": "real_bench",
                "kit": str(kit),
                "experiment": str(path),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "stages_s": {k: v["wall_s"] for k, v in stages.items()},
                "total_s": round(total, 1),
                "ratio_to_60_min": round(total / TARGET_S, 2),
                "peak_rss_gib": peak,
                "peak_pss_gib": peak_pss,
                "ratio_to_12_gib": round(peak / TARGET_GIB, 2),
                "rank_agreement": agreement.round(3).to_dict(orient="records"),
                "none_test": none_scores(run_dir / "report"),
                "report": str(run_dir / "report" / "report.md"),
                "source": RunDir(run_dir).source_label(),
            }
        )
    )


if __name__ == "__main__":
    main()
