"""The report's sections: each a list of blocks (see `render`) built from the report's tables, with the
numbers formatted as the report shows them (mean ± t-interval over seeds, Δ with its bootstrap interval)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xstilts.search.report.effects import p_text
from xstilts.search.report.plots import DELTA_LABEL
from xstilts.search.report.stats import MIN_SEEDS, N_BOOT, TOO_FEW, interval_text
from xstilts.search.report.tables import CHANCE_MARGIN, SUMMARIES
from xstilts.tasks.metrics import XTREME_GROUP2TASK
from xstilts.tasks.reference_scores import (
    COLUMN_LABELS,
    E5_SMALL_MTEB,
    MTEB_PROTOCOL_NOTE,
    primary_metric,
    reference_source,
)
from xstilts.tasks.reference_scores import MODELS as REFERENCE_MODELS


def num(x: float, sign: bool = False) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.2f}" if sign else f"{x:.2f}"


def pm(mean: float, ci: float, n: int, sign: bool = False) -> str:
    """'62.31 ± 1.20' (95% t-interval over seeds), or '62.31 (too few seeds for an interval)' below
    MIN_SEEDS seeds: a t-interval from 2 seeds has 1 degree of freedom (t = 12.7) and says little."""
    if not np.isfinite(mean):
        return "–"
    if n < MIN_SEEDS or not np.isfinite(ci):
        return f"{num(mean, sign)} ({TOO_FEW})"
    return f"{num(mean, sign)} ± {ci:.2f}"


def tested(d: pd.DataFrame) -> list[str]:
    """Each row's Δ with its bootstrap interval and significance mark (report_stats.interval_text)."""
    if "delta_lo" not in d:
        return [interval_text(x, math.nan, math.nan, False) for x in d["delta"]]
    return [interval_text(*r) for r in zip(d["delta"], d["delta_lo"], d["delta_hi"], d["significant"].fillna(False))]


TEST_TEXT = (
    "Δ vs none: the winner minus the baseline, paired by target fine-tune seed and language, with its 95% "
    "paired-bootstrap interval over languages x seeds (seeds drawn with replacement, and languages within each "
    "task; {n} draws). * marks a difference that is significant after Holm's correction within its family "
    "(this table's rows): its interval excludes 0 and its Holm-adjusted p is below 0.05, p from a sign-flip "
    "test over the seeds' differences, exact below 8 seeds (with 3 seeds the smallest possible p is 0.25, so "
    "nothing is marked: more seeds are needed for a claim). With fewer than {m} seeds: {few}."
)


def xtreme_section(xt: pd.DataFrame, select: str) -> list[tuple]:
    shown = pd.DataFrame(
        {
            "winner": xt["winner"],
            "role": xt["role"],
            "intermediate task": xt["intermediate_task"],
            "steps": xt["step"],
            "lr": xt["lr"].map(lambda v: f"{v:.2e}") if "lr" in xt else "–",
            "batch size": xt["batch_size"] if "batch_size" in xt else "–",
            "seeds": xt["n_seeds"],
            "tasks": xt["n_tasks"],
            "XTREME score (mean ± 95% CI)": [pm(*r) for r in zip(xt["mean"], xt["ci95"], xt["n_seeds"])],
            "Δ vs none (points) [95% interval]": [
                "–" if r == "baseline" else cell for r, cell in zip(xt["role"], tested(xt))
            ],
        }
    )
    return [
        ("h", 2, "XTREME score vs no intermediate training"),
        (
            "p",
            "XTREME score of one seed: the mean over the target tasks present of each task's mean over its "
            "languages (English included, as in XTREME) of the headline score (accuracy for xnli, pawsx and "
            "tatoeba; F1 for udpos, panx and bucc2018; (EM + F1) / 2 for xquad, mlqa and tydiqa). Shown: the "
            "mean over seeds ± the half-width of its 95% t-interval over seeds. "
            + TEST_TEXT.format(n=N_BOOT, m=MIN_SEEDS, few=TOO_FEW),
        ),
        (
            "p",
            f"Winners, chosen by {select}: per intermediate task the sweep's best (trial, milestone) on the "
            "dev probes (role best), the best at each milestone step (role duration), and the 'none' baseline.",
        ),
        ("table", shown),
    ]


def selection_section(sel: pd.DataFrame) -> list[tuple]:
    if sel.empty:
        return []
    shown = pd.DataFrame(
        {
            "intermediate task": sel["intermediate_task"],
            "English dev: winner": sel["english_dev_winner"],
            "English dev score": [num(v) for v in sel["english_dev"]],
            "rank (English dev)": sel["english_dev_rank"],
            "target dev: winner": sel["target_dev_winner"],
            "target dev score": [num(v) for v in sel["target_dev"]],
            "rank (target dev)": sel["target_dev_rank"],
        }
    )
    return [
        ("h", 3, "Both selection rules side by side"),
        (
            "p",
            "Per intermediate task, the (trial@step) each rule would choose from the sweep's milestones and the "
            "task's rank under it. XTREME's strict zero-shot setting selects on English dev; selecting on the "
            "target languages' dev sets uses data a zero-shot user does not have, and the two can rank models "
            "differently (Keung et al. 2020, 'Don't use English dev').",
        ),
        ("table", shown),
    ]


def agreement_section(ra: pd.DataFrame) -> list[tuple]:
    if ra.empty:
        return []
    shown = pd.DataFrame(
        {
            "target tasks": ra["scope"],
            "summary": ra["summary"].map({"mean": "mean", "low_resource_mean": "low-resource mean"}),
            "Spearman": [num(v) for v in ra["spearman"]],
            "95% bootstrap interval": [
                "–" if math.isnan(lo) else f"[{lo:+.2f}, {hi:+.2f}]"
                for lo, hi in zip(ra["spearman_low"], ra["spearman_high"])
            ],
            "encoders": ra["n_encoders"],
        }
    )
    return [
        ("h", 3, "How far the search signal can be trusted"),
        (
            "p",
            "The sweep ranks candidates by a cheap probe (a short English fine-tune per probed task, scored on "
            "the probe languages' dev sets); the evaluation above measures them properly. Spearman's rank "
            "correlation between the two over the winners' distinct encoders (a trial at a step), on the probed "
            "target tasks and on all of them, with a 95% percentile-bootstrap interval over encoders (2,000 draws; "
            "none below 4 encoders). Near 1: the sweep's winners are the evaluation's; low: treat the sweep's "
            "choice of winners as noisy.",
        ),
        ("table", shown),
    ]


STAND_IN = "†"


def reference_section(ref: pd.DataFrame, stand_ins: list[str]) -> list[tuple]:
    """The baseline's zero-shot scores per language beside published ones (context only), each column labelled
    by its provenance, and below the table the source of every reference table shown."""
    if ref.empty:
        return []
    shown = pd.DataFrame(
        {
            "task": [f"{t} {STAND_IN}" if t in stand_ins else str(t) for t in ref["target_task"]],
            "language": ref["lang"],
            "tier": ref["resource_tier"],
            "metric": ref["metric"] if "metric" in ref.columns else "",
            "none (this run)": [num(v) for v in ref["none"]],
            **{COLUMN_LABELS[m]: [num(v) for v in ref[m]] for m in REFERENCE_MODELS},
        }
    )
    tasks = list(dict.fromkeys(map(str, ref["target_task"])))
    sources = [f"{t} ({primary_metric(t)}): {reference_source(t)}" for t in tasks if reference_source(t) is not None]
    retrieval = ref["target_task"].astype(str).isin(XTREME_GROUP2TASK["retrieval"])
    mteb_shown = bool(ref.loc[retrieval, E5_SMALL_MTEB].notna().any())
    blocks = [
        ("h", 2, "The baseline beside published reference points"),
        (
            "p",
            "The no-intermediate baseline's zero-shot score per target task and language (mean over seeds), "
            "beside published per-language numbers where a readable public source has one, each column named by "
            "where its numbers come from: mBERT and XLM-R Large as XTREME-style baselines (fine-tuned on English, "
            "evaluated zero-shot on the other languages, as in Hu et al. 2020, arXiv 2003.11080, whose "
            "per-language appendix was not readable; not every number is that paper's), and multilingual-e5-small's "
            "bitext-mining scores from MTEB's results (Tatoeba and BUCC only). They are context only: mBERT and "
            "XLM-R Large were fine-tuned on all of the English training data with the full recipe, "
            "multilingual-e5-small is a trained sentence encoder, and all were scored on the full test sets; '–' "
            "where no readable source has a number. Each published column holds the metric named in its source "
            "line below; this run's column holds the same metric (column 'metric': F1 for QA, not the headline "
            "mean of EM and F1), or the task's headline score where nothing is published.",
        ),
        ("table", shown),
    ]
    if sources:
        blocks += [("p", "Sources of the published numbers, per task (metric):"), ("ul", sources)]
    if mteb_shown:
        blocks += [("p", MTEB_PROTOCOL_NOTE)]
    return blocks


def task_section(td: pd.DataFrame, stand_ins: Sequence[str] = ()) -> list[tuple]:
    base = td[td["role"] == "baseline"].assign(cell=lambda d: [pm(*r) for r in zip(d["mean"], d["ci95"], d["n_seeds"])])
    rest = td[td["role"] != "baseline"]
    rest = rest.assign(cell=tested(rest))
    cells = pd.concat([base, rest])
    wide = cells.pivot_table(index="winner", columns="target_task", values="cell", aggfunc="first")
    wide = wide.reindex(cells["winner"].unique()).fillna("–").reset_index()
    wide = wide.rename(columns={t: f"{t} {STAND_IN}" for t in stand_ins})
    return [
        ("h", 2, "Per-task deltas"),
        (
            "p",
            "Each cell: the winner's language mean of the task minus the baseline's (points), mean over seeds, "
            "[95% paired-bootstrap interval over languages x seeds], * when it excludes 0; the first row is the "
            "baseline's own score (%, ± its 95% t-interval over seeds). Retrieval targets (bucc2018, tatoeba) "
            "score the encoder without fine-tuning, so only their languages vary in the bootstrap.",
        ),
        ("table", wide),
    ]


def sentence(task: str, d: pd.DataFrame, base: pd.Series) -> str:
    """How the low-resource mean and the worst language move from the shortest to the longest duration."""
    ends = d.iloc[[0, -1]] if len(d) > 1 else d

    def path(col: str, sign: bool = False, lang: bool = False) -> str:
        return " → ".join(num(r[col], sign) + (f" ({r['worst_lang']})" if lang else "") for _, r in ends.iterrows())

    top = d.loc[d["low_resource_mean"].fillna(-math.inf).idxmax()]
    return (
        f"{task} ({' → '.join(map(str, ends['step']))} intermediate steps): low-resource mean "
        f"{path('low_resource_mean')} (Δ vs none {path('delta_low_resource_mean', True)}; highest "
        f"{num(top['low_resource_mean'])} at {top['step']} steps), worst language {path('worst', lang=True)} "
        f"(Δ {path('delta_worst', True)}); none: {num(base['low_resource_mean'])} and "
        f"{num(base['worst'])} ({base['worst_lang']})."
    )


def effect_lines(effects: pd.DataFrame) -> list[str]:
    """Per intermediate task: its shortest evaluated milestone against its longest, within trials, pooled over
    the task's trials (lr 'all' when it has several), on the low-resource mean and the worst language."""
    lines = []
    for task, rows in effects.groupby("intermediate_task", sort=True):
        lr = "all" if (rows["lr"] == "all").any() else rows["lr"].iloc[0]
        rows = rows[rows["lr"] == lr]
        widest = rows.loc[(rows["to_step"] - rows["from_step"]).idxmax()]  # the widest pair some trial has
        first, last = widest["from_step"], widest["to_step"]
        span = rows[(rows["from_step"] == first) & (rows["to_step"] == last)].set_index("summary")
        parts = [
            f"{name} {_effect_text(span.loc[s])}"
            for s, name in (("low_resource_mean", "low-resource mean"), ("worst", "worst language"))
            if s in span.index
        ]
        n = int(span["n_trials"].iloc[0])
        lines.append(f"{task}, {first} → {last} steps within trials ({n} trial(s), lr {lr}): " + "; ".join(parts))
    return lines


def chance_text(chance: pd.DataFrame) -> str:
    """The (task, language) pairs at chance, in one sentence ('' when none is)."""
    at = chance[chance["at_chance"].astype(bool)] if len(chance) else chance
    if not len(at):
        return ""
    pairs = "; ".join(
        f"{task} {', '.join(f'{r.lang} ({r.best:.1f})' for r in g.itertuples())} (chance {g['chance'].mean():.1f})"
        for task, g in at.groupby("target_task", observed=True)
    )
    return (
        f"At chance (even the best encoder within {CHANCE_MARGIN:g} points of the score of knowing nothing, so "
        f"these scores tell encoders apart by noise alone; best encoder's score in brackets): {pairs}."
    )


def verdict_section(effects: pd.DataFrame, low: list[str], chance: pd.DataFrame | None = None) -> list[tuple]:
    """The report's opening: the answer to the research question, read from the within-trial duration effects;
    the languages at chance for a task are named with the low-resource set."""
    at_chance = chance_text(chance) if chance is not None else ""
    if effects.empty:
        answer = (
            "No trial has two evaluated milestones, so this run cannot say how the duration of intermediate "
            "training changes zero-shot transfer (evaluate every milestone: evaluation.every_milestone: true)."
        )
        return [("h", 2, "Verdict"), ("p", answer)] + [("note", at_chance)] * bool(at_chance)
    robust = effects[effects["robust"]]
    headline = (
        f"{len(robust)} of {len(effects)} duration effects are robust (Holm-adjusted p < 0.05 within their family "
        "and the same sign on two disjoint halves of the languages)"
        + (
            ": "
            + "; ".join(
                f"{r.intermediate_task} {r.from_step} → {r.to_step} steps (lr {r.lr}) on the "
                f"{r.summary.replace('_', ' ')}: {r.estimate:+.2f}"
                for r in robust.itertuples()
            )
            if len(robust)
            else "; none is claimed"
        )
    )
    return [
        ("h", 2, "Verdict"),
        (
            "p",
            "How does training longer on the English intermediate task change zero-shot transfer, above all for "
            f"the low-resource languages ({', '.join(low) or 'none evaluated'})? Estimated within trials, "
            f"later milestone minus earlier: {headline}.",
        ),
        ("ul", effect_lines(effects)),
    ] + [("note", at_chance)] * bool(at_chance)


def longer_section(effects: pd.DataFrame) -> list[tuple]:
    """The research question, answered within trials (search/report/effects.py): per intermediate task, its
    shortest evaluated milestone against its longest, pooled over the task's trials, on the low-resource mean
    and the worst language."""
    if effects.empty:
        return [
            (
                "p",
                "Training longer: no trial has two evaluated milestones, so no duration effect is estimated "
                "(set evaluation.every_milestone: true). The 'best at each step' rows above compare different "
                "trials and say nothing causal about duration.",
            )
        ]
    lines = effect_lines(effects)
    return [
        ("h", 3, "Does training longer change robustness? (within trials)"),
        (
            "p",
            "Each effect compares two milestones of the same trial (same task, configuration and intermediate "
            "seed; the same target seeds and languages), later minus earlier, in points, pooled over the task's "
            "trials. The interval is a 95% hierarchical bootstrap that resamples trials (intermediate seeds), "
            "then target fine-tune seeds, then languages within each target task (the worst language: trials and "
            "seeds only). p comes from a sign-flip test over the trials, exact below 8 trials (so never below "
            "2 / 2^n), and is Holm-adjusted within its family: one family per summary (mean, low-resource mean, "
            "worst language), all (task, lr, milestone pair) rows of report/tables/duration_effects.parquet. "
            "Robust: adjusted p < 0.05 and the same sign on two disjoint halves of the languages.",
        ),
        ("ul", lines),
    ]


def _effect_text(r: pd.Series) -> str:
    verdict = "robust" if r["robust"] else "significant, not robust" if r["significant"] else "not significant"
    return (
        f"{r['estimate']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] ({p_text(r['p'])}, Holm-adjusted "
        f"{p_text(r['p_adjusted'])}; {verdict}; sign stability "
        f"{r['sign_stability']:.2f}; language halves {num(r['half_a'], True)} / {num(r['half_b'], True)})"
    )


def duration_section(dt: pd.DataFrame, effects: pd.DataFrame, low: list[str], plot: str, n_seeds: int) -> list[tuple]:
    base = dt[dt["role"] == "baseline"].iloc[0]
    rest = dt[dt["role"] != "baseline"]
    shown = pd.DataFrame({"intermediate task": dt["intermediate_task"], "steps": dt["step"], "seeds": dt["n_seeds"]})
    for s, name in zip(SUMMARIES, ("mean", "low-resource mean", "worst language")):
        shown[f"{name} (± sd)"] = [
            num(m) + ("" if not np.isfinite(sd) else f" ± {sd:.2f}") for m, sd in zip(dt[s], dt[f"{s}_sd"])
        ]
        tested = f"{s}_delta_lo" in dt.columns  # low-resource mean and worst: with the bootstrap vs none
        shown[f"Δ {name}"] = [
            "–"
            if r["role"] == "baseline"
            else interval_text(r[f"delta_{s}"], r[f"{s}_delta_lo"], r[f"{s}_delta_hi"], bool(r[f"{s}_significant"]))
            if tested
            else num(r[f"delta_{s}"], True)
            for _, r in dt.iterrows()
        ]
    shown["worst (most often)"] = dt["worst_lang"]
    return [
        ("h", 2, "The answer in numbers: intermediate-training duration vs robustness"),
        (
            "p",
            "Over the non-English languages, as in the sweep: mean = mean of the task means; low-resource "
            f"mean = the same over the low-resource languages ({', '.join(low) or 'none'}); worst = the "
            "language with the lowest score averaged over the tasks. Per seed, then mean (± sd) over seeds; "
            "Δ in points vs the 'none' baseline (step 0), for the low-resource mean and the worst language with "
            "the 95% paired-bootstrap interval, * when it excludes 0. These rows are what the search found: the "
            "best trial at each step, which may differ in learning rate and seed from step to step, so they "
            "compare configurations as much as durations; the effect of duration is estimated within trials "
            "below.",
        ),
        ("ul", [sentence(t, d.sort_values("step"), base) for t, d in rest.groupby("intermediate_task")]),
        ("table", shown),
        *longer_section(effects),
        (
            "img",
            plot,
            f"Score vs intermediate training steps (lines: mean over seeds; bands: min–max over "
            f"{n_seeds} seeds; dashed: none baseline, grey band its min–max).",
        ),
    ]


def language_section(
    ld: pd.DataFrame, tiers: pd.DataFrame, best: list[str], plots: dict[str, str], chance: pd.DataFrame | None = None
) -> list[tuple]:
    at_chance = chance_text(chance) if chance is not None else ""
    tiers = tiers[tiers["winner"].isin(best)]
    tiers = tiers.assign(cell=[f"{c} ({n})" for c, n in zip(tested(tiers), tiers["n_langs"])])
    blocks = [
        ("h", 2, "Per-language robustness"),
        (
            "p",
            "Δ vs none per language (points, mean over seeds), grouped by resource tier (low: the "
            "low-resource languages, Joshi class at most target.low_resource_max_class; high: the others of class "
            "4-5 and English; mid: the rest). Tier cell: mean over the tier's languages of each language's Δ averaged "
            "over tasks, [95% paired-bootstrap interval over the tier's languages x seeds], * when it excludes 0 "
            "(number of languages).",
        ),
        (
            "table",
            tiers.pivot_table(index="winner", columns="resource_tier", values="cell", aggfunc="first")
            .reindex(index=best)
            .fillna("–")
            .reset_index(),
        ),
    ] + [("note", at_chance)] * bool(at_chance)
    for w in best:
        d = ld[ld["winner"] == w]
        wide = d.pivot_table(index=["resource_tier", "lang"], columns="target_task", values="delta")
        wide["mean over tasks"] = wide.mean(axis=1)
        wide = wide.reset_index()
        blocks += [
            ("h", 3, f"{w}: Δ vs none per language"),
            ("img", plots[w], f"{w} − none per target task and language ({DELTA_LABEL}; grey: not evaluated)."),
            (
                "table",
                wide.rename(columns={"resource_tier": "tier"}).map(
                    lambda v: num(v, True) if isinstance(v, float) else v
                ),
            ),
        ]
    return blocks
