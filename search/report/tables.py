"""The report's tables, computed from the evaluation's headline rows: XTREME scores with 95% intervals vs
the baseline, per-task and per-language deltas, robustness summaries over durations, provenance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from xstilts.core.errors import InputError
from xstilts.search.config import ENGLISH_DEV
from xstilts.search.journal import Journal
from xstilts.search.report.effects import duration_effects
from xstilts.search.report.plots import task_order
from xstilts.search.report.provenance import provenance_table
from xstilts.search.report.stats import delta_tables, duration_deltas
from xstilts.search.rundir import RunDir
from xstilts.search.selection import ROLES, WinnerBoard, milestone_score, recorded_rule, rule_of
from xstilts.tasks.aggregate import summarize_probe
from xstilts.tasks.languages import TIERS
from xstilts.tasks.reference_scores import MODELS as REFERENCE_MODELS
from xstilts.tasks.reference_scores import primary_metric, reference_points
from xstilts.tasks.registry import BASELINE


class ReportError(InputError, ValueError):
    """An evaluation that cannot be reported as asked (no rows of the split, no baseline); one line."""


SUMMARIES = ("mean", "low_resource_mean", "worst")

# Student t quantile t(0.975, df) for df = 1..30 (scipy.stats.t.ppf); beyond, a Cornish-Fisher series.
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)


def t_quantile_975(df: int) -> float:
    """Return the 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95% CI)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def ci95(values: np.ndarray | pd.Series) -> float:
    """Half-width of the 95% t confidence interval of the mean; NaN with fewer than two values."""
    v = np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))]
    return math.nan if len(v) < 2 else float(t_quantile_975(len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def replicated(rows: pd.DataFrame) -> bool:
    """Whether evaluation rows hold several replicates of a winner (search.replicates)."""
    return "replicate" in rows.columns and rows["replicate"].nunique() > 1


def replicate_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Headline rows with a winner's replicates averaged: one score per (winner, target task, target seed,
    language), the mean over the winner's intermediate seeds."""
    keys = ["winner", "target_task", "seed", "lang"]
    agg: dict[str, str] = {c: "first" for c in rows.columns if c not in [*keys, "score", "replicate"]}
    out = rows.groupby(keys, as_index=False, sort=False, dropna=False, observed=True).agg({"score": "mean", **agg})
    return out.drop(columns=["intermediate_seed"], errors="ignore")


def load_headline(run_dir: RunDir, split: str, replicates: bool = False) -> pd.DataFrame:
    """Headline rows of `split`: one per (winner, target_task, seed, lang), sorted (a winner's replicates
    averaged; `replicates`: one per replicate too, as the duration effects resample them); raises on bad
    input."""
    path = run_dir.evaluation_path
    ev = run_dir.read_evaluation()
    if split not in set(ev["split"]):
        raise ReportError(f"{path}: no {split!r} rows. Available splits: {', '.join(sorted(set(ev['split'])))}")
    rows = ev[(ev["split"] == split) & ev["headline"].astype(bool)]
    if replicated(rows) and not replicates:
        rows = replicate_means(rows)
    keys = ["winner", "target_task", "seed", "lang", *(["replicate"] if replicated(rows) else [])]
    dup = rows.duplicated(keys, keep=False)
    if dup.any():
        raise ReportError(f"{path}: more than one headline row for {rows[dup].iloc[0][keys].to_dict()} ({split})")
    if not (rows["role"] == "baseline").any():
        raise ReportError(f"{path}: no baseline ('none') winner to compare with")
    rows = distinct_encoders(rows)
    # Categories keep XTREME's task order and the high -> mid -> low tier order in every table.
    rows = rows.assign(
        step=rows["step"].astype(int),
        seed=rows["seed"].astype(int),
        target_task=pd.Categorical(rows["target_task"], task_order(rows["target_task"].unique())),
        resource_tier=pd.Categorical(rows["resource_tier"], TIERS),
    )
    return rows.sort_values(keys, kind="mergesort").reset_index(drop=True)


def distinct_encoders(rows: pd.DataFrame) -> pd.DataFrame:
    """One winner per distinct encoder (trial, step): a task's best is often also its best at that step
    (`anli@best` and `anli@step200`, the same model). The first by role (baseline, best, duration, milestone)
    keeps the rows, and the others' names go into `also`, so no table counts one model twice."""
    if "trial_id" not in rows.columns:
        return rows.assign(also="")
    rank = rows["role"].map({r: i for i, r in enumerate(ROLES)}).fillna(len(ROLES))
    names = rows.assign(rank=rank).drop_duplicates("winner").sort_values(["rank", "winner"], kind="mergesort")
    keep: dict[tuple, str] = {}
    also: dict[str, list[str]] = {}
    for r in names.itertuples():
        first = keep.setdefault((r.trial_id, r.step), r.winner)
        if first != r.winner:
            also.setdefault(first, []).append(r.winner)
    kept = rows[rows["winner"].isin(set(keep.values()))]
    return kept.assign(also=kept["winner"].map(lambda w: ", ".join(also.get(w, []))))


def winners_table(head: pd.DataFrame, results: pd.DataFrame | None) -> pd.DataFrame:
    """One row per winner (baseline, best, duration; then task and step) with its trial's lr and batch size;
    `also`: the other winners' names for the same encoder (`distinct_encoders`)."""
    cols = ["winner", "role", "intermediate_task", "step", "trial_id"] + (["also"] if "also" in head.columns else [])
    w = head.drop_duplicates("winner")[cols]
    w = w.assign(role_rank=w["role"].map({r: i for i, r in enumerate(ROLES)}).fillna(len(ROLES)))
    w = w.sort_values(["role_rank", "intermediate_task", "step", "winner"]).drop(columns="role_rank")
    if results is not None and {"trial_id", "lr", "batch_size"} <= set(results.columns):
        hp = results.drop_duplicates("trial_id")[["trial_id", "lr", "batch_size"]]
        w = w.merge(hp, on="trial_id", how="left")
    return w.reset_index(drop=True)


def _vs_baseline(per_seed: pd.DataFrame, by: list[str], value: str, base: str) -> pd.DataFrame:
    """Mean ± 95% CI over seeds per group of `by` (winner first), and its difference from winner `base`.

    delta is the difference of the seed means; its interval is the paired bootstrap's (`report_stats`), the
    one interval method of a delta, merged in by `build_tables`.
    """
    rest = by[1:]
    b = per_seed.loc[per_seed["winner"] == base, [*rest, "seed", value]].rename(columns={value: "base"})
    out = (
        per_seed.groupby(by, sort=False, observed=True)
        .agg(n_seeds=(value, "size"), mean=(value, "mean"), ci95=(value, ci95))
        .reset_index()
    )
    if rest:
        out = out.merge(b.groupby(rest, observed=True, as_index=False)["base"].mean(), on=rest, how="left")
    else:
        out["base"] = b["base"].mean()
    return out.rename(columns={"base": "baseline"}).assign(delta=lambda d: d["mean"] - d["baseline"])


def task_means(head: pd.DataFrame) -> pd.DataFrame:
    """Each (winner, target_task, seed)'s mean headline score over the task's languages."""
    return head.groupby(["winner", "target_task", "seed"], as_index=False)["score"].mean()


def xtreme_tables(head: pd.DataFrame, winners: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per seed, summary): XTREME score = mean over the tasks present of each task's language mean."""
    per_seed = (
        task_means(head)
        .groupby(["winner", "seed"], as_index=False)
        .agg(xtreme_score=("score", "mean"), n_tasks=("target_task", "nunique"))
    )
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    summary = _vs_baseline(per_seed, ["winner"], "xtreme_score", base)
    summary = summary.merge(per_seed.groupby("winner", as_index=False)["n_tasks"].max(), on="winner")
    return per_seed, winners.merge(summary, on="winner")


def task_delta_table(head: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """Per (winner, target_task): language mean over seeds ± CI, the baseline's, and the delta."""
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    out = _vs_baseline(task_means(head), ["winner", "target_task"], "score", base)
    return winners[["winner", "role", "intermediate_task", "step"]].merge(out, on="winner")


def language_delta_table(head: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """Per (winner, target_task, lang): seed-mean score, the baseline's, delta; tier and low_resource."""
    keys = ["target_task", "lang", "resource_tier", "low_resource"]
    means = head.groupby(["winner", *keys], as_index=False)["score"].mean()
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    b = means[means["winner"] == base].drop(columns="winner").rename(columns={"score": "baseline"})
    out = means[means["winner"] != base].merge(b, on=keys, how="left")
    return out.assign(delta=out["score"] - out["baseline"])


def tier_table(rows: pd.DataFrame, value: str) -> pd.DataFrame:
    """The tier score (the report's and the model card's): per (winner, resource_tier), the mean over the
    tier's languages of each language's mean `value` over its rows (tasks, seeds), with n_langs."""
    per_lang = rows.groupby(["winner", "resource_tier", "lang"], as_index=False)[value].mean()
    return per_lang.groupby(["winner", "resource_tier"], as_index=False).agg(
        **{value: (value, "mean")}, n_langs=("lang", "nunique")
    )


def tier_delta_table(lang_deltas: pd.DataFrame) -> pd.DataFrame:
    """Per (winner, resource_tier): the tier score of the deltas (`tier_table`)."""
    return tier_table(lang_deltas, "delta")


def robustness_per_seed(head: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """Per (winner, seed): mean, low_resource_mean, worst, worst_lang over the non-English languages.

    Same definitions as the sweep (tasks.metrics.summarize_probe): task means first, tasks weighted equally.
    """
    low = sorted(head.loc[head["low_resource"].astype(bool), "lang"].unique())
    rows = []
    for (winner, seed), g in head.groupby(["winner", "seed"], sort=True):
        scores = {t: dict(zip(gt["lang"], gt["score"])) for t, gt in g.groupby("target_task")}
        rows.append({"winner": winner, "seed": seed, **summarize_probe(scores, low)})
    out = pd.DataFrame(rows)
    return winners[["winner", "role", "intermediate_task", "step"]].merge(out, on="winner")


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation: Pearson's of the ranks (ties averaged); NaN below 3 pairs."""
    x, y = pd.Series(np.asarray(x, dtype=float)), pd.Series(np.asarray(y, dtype=float))
    return float(x.rank().corr(y.rank())) if len(x) >= 3 else math.nan


def spearman_interval(x, y, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of Spearman's rho, encoders drawn with replacement (draws whose ranks
    are constant on a side are left out); NaN below 4 encoders."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 4:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    a, b = pd.DataFrame(x[idx]).rank(axis=1).to_numpy(), pd.DataFrame(y[idx]).rank(axis=1).to_numpy()
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    draws = ((a * b).sum(axis=1) / np.where(norm > 0, norm, np.nan))[norm > 0]
    if not len(draws):
        return math.nan, math.nan
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def rank_agreement(head: pd.DataFrame, winners: pd.DataFrame, results: pd.DataFrame | None) -> pd.DataFrame:
    """How far the sweep's cheap probe ranks encoders as the evaluation does: Spearman between each distinct
    winner encoder's probe score (its milestone in results.parquet) and its evaluation score (seed mean), on the
    probed target tasks and on all of them, for the mean and the low-resource mean, with a bootstrap interval
    over encoders (`spearman_interval`)."""
    columns = ["scope", "summary", "spearman", "spearman_low", "spearman_high", "n_encoders"]
    if results is None or results.empty or not {"trial_id", "step", "mean"} <= set(results.columns):
        return pd.DataFrame(columns=columns)
    probe = results.drop_duplicates(["trial_id", "step"]).set_index(["trial_id", "step"])
    encoders = winners.drop_duplicates(["trial_id", "step"])
    encoders = encoders[[(t, int(s)) in probe.index for t, s in zip(encoders["trial_id"], encoders["step"])]]
    probed = set(results["target_task"])
    rows = []
    for scope, h in (("probed tasks", head[head["target_task"].isin(probed)]), ("all tasks", head)):
        evaluated = robustness_per_seed(h, winners).groupby("winner")[["mean", "low_resource_mean"]].mean()
        for summary in ("mean", "low_resource_mean"):
            x = [probe.loc[(t, int(s)), summary] for t, s in zip(encoders["trial_id"], encoders["step"])]
            y = evaluated[summary].reindex(encoders["winner"])
            lo, hi = spearman_interval(x, y)
            rows.append(
                {
                    "scope": scope,
                    "summary": summary,
                    "spearman": spearman(x, y),
                    "spearman_low": lo,
                    "spearman_high": hi,
                    "n_encoders": len(x),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def reference_table(head: pd.DataFrame, scored: pd.DataFrame | None = None) -> pd.DataFrame:
    """The baseline's zero-shot score per target task and language (mean over seeds), whether it was read from
    a stand-in split (`evaluation.test_split`), and the published reference points for that task and language
    under the task's primary reference metric, one column per reference model (mBERT and XLM-R Large as
    XTREME-style baselines, multilingual-e5-small from MTEB; tasks/reference_scores.py), as context only.
    `scored`: the split's rows of every metric; the baseline's score is then read under the same metric as the
    published one (F1 for QA, whose headline is (EM + F1) / 2), named in `metric`."""
    columns = ["target_task", "lang", "resource_tier", "metric", "none", "n_seeds", "stand_in", *REFERENCE_MODELS]
    base = head[head["role"] == "baseline"]
    if base.empty:
        return pd.DataFrame(columns=columns)
    base = base.assign(target_task=base["target_task"].astype(str))
    if "metric" not in base.columns:
        base = base.assign(metric="")
    if scored is not None and "metric" in scored.columns:
        others = scored[scored["role"] == "baseline"].assign(target_task=lambda d: d["target_task"].astype(str))
        parts = []
        for task, rows in base.groupby("target_task", sort=False):
            same = others[(others["target_task"] == task) & (others["metric"] == primary_metric(str(task)))]
            parts.append(same if len(same) == len(rows) else rows)
        base = pd.concat(parts, ignore_index=True)
    if "stand_in" not in base.columns:
        base = base.assign(stand_in=False)
    g = base.groupby(["target_task", "lang"], observed=True, sort=True)
    out = g.agg(
        resource_tier=("resource_tier", "first"),
        metric=("metric", "first"),
        none=("score", "mean"),
        n_seeds=("seed", "nunique"),
        stand_in=("stand_in", "any"),
    ).reset_index()
    for model in REFERENCE_MODELS:
        out[model] = [
            reference_points(str(t), lang).get(model, math.nan) for t, lang in zip(out["target_task"], out["lang"])
        ]
    return out[columns]


def duration_winners(winners: pd.DataFrame) -> pd.DataFrame:
    """The duration-curve winners: role 'duration' (an intermediate task without any: its 'best'), and a best
    that is also its task's duration winner at its step (one encoder, listed once: `distinct_encoders`)."""
    w = winners[winners["role"] != "baseline"]
    has = set(w.loc[w["role"] == "duration", "intermediate_task"])
    also = w["also"].fillna("") if "also" in w.columns else pd.Series("", index=w.index)
    stands_for_duration = also.str.contains("@step", regex=False)
    return w[
        (w["role"] == "duration") | ((w["role"] == "best") & (~w["intermediate_task"].isin(has) | stands_for_duration))
    ]


def duration_table(robust: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """Per duration winner and the baseline (step 0): each summary's seed mean, sd, min, max and Δ vs none."""
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    keep = set(duration_winners(winners)["winner"]) | {base}
    rows = []
    for winner, g in robust[robust["winner"].isin(keep)].groupby("winner", sort=False):
        row = g.iloc[0][["winner", "role", "intermediate_task", "step"]].to_dict() | {"n_seeds": len(g)}
        for s in SUMMARIES:
            row |= {
                s: g[s].mean(),
                f"{s}_sd": g[s].std(ddof=1) if len(g) > 1 else math.nan,
                f"{s}_min": g[s].min(),
                f"{s}_max": g[s].max(),
            }
        counts = g["worst_lang"].value_counts()
        row["worst_lang"] = sorted(counts[counts == counts.max()].index)[0]  # most often worst; ties: by code
        rows.append(row)
    out = pd.DataFrame(rows)
    base_row = out[out["winner"] == base].iloc[0]
    for s in SUMMARIES:
        out[f"delta_{s}"] = out[s] - base_row[s]
    out = out.assign(is_base=out["winner"] != base).sort_values(["is_base", "intermediate_task", "step"])
    return out.drop(columns="is_base").reset_index(drop=True)


def selection_table(milestones: list[dict], select: str) -> pd.DataFrame:
    """Both winner rankings side by side: per intermediate task, its best (trial, milestone) by English dev and
    by `select` over the target languages' dev probes (`selection.WinnerBoard`), each with its score and the
    task's rank."""
    columns = ["intermediate_task", "english_dev_winner", "english_dev", "english_dev_rank"]
    columns += ["target_dev_winner", "target_dev", "target_dev_rank"]
    boards = {
        "english_dev": WinnerBoard(ENGLISH_DEV, False, milestones),
        "target_dev": WinnerBoard(select, False, milestones),
    }
    rows = []
    for task in sorted({t for t, _ in boards["english_dev"].groups if t != BASELINE}):
        row: dict = {"intermediate_task": task}
        for name, board in boards.items():
            m = board.groups[(task, None)]
            score = milestone_score(m, board.rule)
            row |= {f"{name}_winner": f"{m['trial_id']}@{m['step']}", name: score if math.isfinite(score) else math.nan}
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)
    for rule in ("english_dev", "target_dev"):
        out[f"{rule}_rank"] = out[rule].rank(ascending=False, method="min").astype("Int64")
    return out.sort_values("english_dev_rank", kind="stable")[columns].reset_index(drop=True)


def scored_rows(run_dir: RunDir, split: str) -> pd.DataFrame:
    """Every metric's rows of `split` (the headline and the others: F1 and EM for QA, ...)."""
    ev = run_dir.read_evaluation()
    return ev[ev["split"] == split]


CHANCE_MARGIN = 2.0  # points: a (task, language) whose best encoder is within this of chance is at chance


def chance_table(head: pd.DataFrame) -> pd.DataFrame:
    """Per (target task, language) with a chance level (tasks.metrics.chance_level: accuracy-scored tasks): the
    chance score, the best encoder's mean over seeds and `at_chance`, true when even that best encoder is
    within CHANCE_MARGIN points of chance (its scores there tell encoders apart by noise alone)."""
    columns = ["target_task", "lang", "chance", "best", "at_chance"]
    if "chance" not in head.columns or head["chance"].isna().all():
        return pd.DataFrame(columns=columns)
    rows = head[head["chance"].notna()]
    per = rows.groupby(["target_task", "lang", "winner"], observed=True).agg(
        chance=("chance", "mean"), score=("score", "mean")
    )
    out = per.groupby(["target_task", "lang"], observed=True).agg(chance=("chance", "mean"), best=("score", "max"))
    out["at_chance"] = out["best"] <= out["chance"] + CHANCE_MARGIN
    return out.reset_index()[columns]


def build_tables(run_dir: RunDir, split: str = "test") -> dict[str, pd.DataFrame]:
    """Every table of the report, by name (the Parquet file stems); 'headline' is the input, not written."""
    meta = run_dir.read_meta() if run_dir.has_meta() else {}  # the provenance's name and digest
    exp = run_dir.context().exp if run_dir.has_meta() else None
    rule = recorded_rule(run_dir) or (rule_of(exp) if exp is not None else None)
    select = exp.evaluation.select if exp is not None else "low_resource_mean"
    milestones = Journal(run_dir).milestones(run_dir.known_trials() or None) if run_dir.has_ledger() else []
    results = run_dir.read_results()
    head = load_headline(run_dir, split)
    # the duration effects resample intermediate seeds: a winner's replicates, each its own unit
    per_replicate = load_headline(run_dir, split, replicates=True)
    winners = winners_table(head, results)
    per_seed, xt = xtreme_tables(head, winners)
    robust = robustness_per_seed(head, winners)
    langs = language_delta_table(head, winners)
    boot = delta_tables(head, winners)  # the bootstrap's own observed delta is the tables' delta: dropped
    duration = duration_table(robust, winners)

    def with_test(table: pd.DataFrame, tests: pd.DataFrame, on: list[str]) -> pd.DataFrame:
        if tests.empty:
            return table
        tests = tests.drop(columns="delta").astype({k: table[k].dtype for k in on})  # keeps category orders
        return table.merge(tests, on=on, how="left")

    return {
        "headline": head,
        "winners": winners,
        "xtreme_per_seed": per_seed,
        "xtreme_scores": with_test(xt, boot["overall"], ["winner"]),
        "task_deltas": with_test(task_delta_table(head, winners), boot["tasks"], ["winner", "target_task"]),
        "robustness_per_seed": robust,
        "duration": duration.merge(duration_deltas(head, duration), on="winner", how="left")
        if len(duration) > 1
        else duration,
        "duration_effects": duration_effects(per_replicate, results),
        "rank_agreement": rank_agreement(head, winners, results),
        "selection": selection_table(milestones, select),
        "language_deltas": langs,
        "tier_deltas": with_test(tier_delta_table(langs), boot["tiers"], ["winner", "resource_tier"]),
        "reference": reference_table(head, scored_rows(run_dir, split)),
        "chance": chance_table(head),
        "provenance": provenance_table(meta, exp, rule, head, split, run_dir, milestones),
    }
