"""Differences against the no-intermediate baseline that say whether they are real: a paired bootstrap over
languages x seeds, with a 95% percentile interval, a two-sided p-value and a significance mark.

Why this test: a winner and the baseline are scored on the same languages with the same target fine-tune
seeds, so each (task, seed, language) gives one paired difference, and what is shared (a language's
difficulty, a seed's draw) cancels. The two sources of chance are the fine-tune seed and which languages
the benchmark happens to hold, so both are resampled: seeds with replacement, and, within each task,
languages with replacement (the paired bootstrap of Koehn 2004, "Statistical significance tests for
machine translation evaluation", over two factors). A t-interval over seeds alone would ignore the
languages and, with 2 seeds, has 1 degree of freedom (t = 12.7). With fewer than `MIN_SEEDS` seeds no
interval is given: resampling 2 seeds cannot show how much a third would move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xstilts.search.report.effects import holm, sign_flip_p

MIN_SEEDS = 3
ALPHA = 0.05
N_BOOT = 4000
TOO_FEW = "too few seeds for an interval"


@dataclass(frozen=True)
class Delta:
    """The observed difference (points), its 95% bootstrap interval, the p-value of the sign-flip test over
    the seeds' differences (exact below 8 seeds: `effects.sign_flip_p`) and its resolution; NaN bounds and p
    when there are fewer than MIN_SEEDS paired seeds. `significant` before any multiplicity correction:
    `adjust` replaces it with the Holm-adjusted verdict of the delta's family."""

    delta: float
    lo: float
    hi: float
    p: float
    n_seeds: int
    p_resolution: float = math.nan

    @property
    def significant(self) -> bool:
        excludes = bool(np.isfinite(self.lo) and (self.lo > 0 or self.hi < 0))
        return excludes and bool(np.isfinite(self.p) and self.p < ALPHA)

    def row(self) -> dict:
        return {
            "delta": self.delta,
            "delta_lo": self.lo,
            "delta_hi": self.hi,
            "delta_p": self.p,
            "delta_p_resolution": self.p_resolution,
            "significant": self.significant,
            "n_paired_seeds": self.n_seeds,
        }


def adjust(table: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    """Holm's correction over one family (every row of `table`): `{prefix}delta_p_adjusted`, and
    `{prefix}significant` when the adjusted p is below ALPHA and the interval excludes 0."""
    if table.empty:
        return table
    p = table[f"{prefix}delta_p"].to_numpy(dtype=float)
    adjusted = holm(p)
    lo, hi = table[f"{prefix}delta_lo"].to_numpy(dtype=float), table[f"{prefix}delta_hi"].to_numpy(dtype=float)
    excludes = np.isfinite(lo) & ((lo > 0) | (hi < 0))
    return table.assign(
        **{
            f"{prefix}delta_p_adjusted": adjusted,
            f"{prefix}significant": excludes & (np.nan_to_num(adjusted, nan=1) < ALPHA),
        }
    )


def paired_strata(head: pd.DataFrame, winner: str, base: str, by_language: bool = False) -> list[np.ndarray]:
    """The paired differences winner - base as (seeds x units) arrays: one per target task, units its
    languages; or (by_language) one array whose units are languages, each the mean over its tasks."""
    keys = ["target_task", "seed", "lang"]
    w = head.loc[head["winner"] == winner, [*keys, "score"]]
    b = head.loc[head["winner"] == base, [*keys, "score"]].rename(columns={"score": "base"})
    cells = w.merge(b, on=keys).assign(diff=lambda d: d["score"] - d["base"])
    if cells.empty:
        return []
    if by_language:
        per_lang = cells.groupby(["seed", "lang"], observed=True)["diff"].mean().unstack("lang")
        return [per_lang.dropna(axis=1).to_numpy()]
    return [
        g.pivot_table(index="seed", columns="lang", values="diff", observed=True).dropna(axis=1).to_numpy()
        for _, g in cells.groupby("target_task", observed=True)
        if len(g)
    ]


def bootstrap(strata: list[np.ndarray], seed: int = 0, n_boot: int = N_BOOT) -> Delta:
    """The mean over strata of each stratum's mean difference, and its paired bootstrap: the same seed draw
    for every stratum (a seed's fine-tunes are one draw), languages drawn within each stratum."""
    strata = [s for s in strata if s.size]
    if not strata:
        return Delta(math.nan, math.nan, math.nan, math.nan, 0)
    n_seeds = strata[0].shape[0]
    observed = float(np.mean([s.mean() for s in strata]))
    if n_seeds < MIN_SEEDS:
        return Delta(observed, math.nan, math.nan, math.nan, n_seeds)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    stats = np.zeros(n_boot)
    for s in strata:
        units = rng.integers(0, s.shape[1], size=(n_boot, s.shape[1]))
        stats += s[seeds[:, :, None], units[:, None, :]].mean(axis=(1, 2))
    per_seed = np.mean([s.mean(axis=1) for s in strata], axis=0)
    return _from_draws(observed, stats / len(strata), per_seed)


def worst_arrays(head: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """(seeds x languages) arrays of each non-English language's score averaged over its tasks, for winners
    a and b on the seeds and languages both have."""
    g = head[head["lang"] != "en"]

    def table(w: str) -> pd.DataFrame:
        return g[g["winner"] == w].groupby(["seed", "lang"], observed=True)["score"].mean().unstack("lang")

    ta, tb = table(a), table(b)
    seeds = ta.index.intersection(tb.index)
    langs = [
        c
        for c in ta.columns.intersection(tb.columns)
        if ta.loc[seeds, c].notna().all() and tb.loc[seeds, c].notna().all()
    ]
    return ta.loc[seeds, langs].to_numpy(), tb.loc[seeds, langs].to_numpy()


def bootstrap_worst(a: np.ndarray, b: np.ndarray, seed: int = 0, n_boot: int = N_BOOT) -> Delta:
    """Δ of the worst language (the lowest of the languages' scores, per seed, then the seed mean) between two
    winners, seeds drawn with replacement, the same for both. Languages are not drawn: the worst language is
    the lowest of the experiment's own languages, and a draw without it would ask another question."""
    if not a.size:
        return Delta(math.nan, math.nan, math.nan, math.nan, 0)
    n_seeds = a.shape[0]
    observed = float(a.min(axis=1).mean() - b.min(axis=1).mean())
    if n_seeds < MIN_SEEDS:
        return Delta(observed, math.nan, math.nan, math.nan, n_seeds)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    per_seed = a.min(axis=1) - b.min(axis=1)
    return _from_draws(observed, a.min(axis=1)[seeds].mean(axis=1) - b.min(axis=1)[seeds].mean(axis=1), per_seed)


def _from_draws(observed: float, stats: np.ndarray, per_seed: np.ndarray) -> Delta:
    """The 95% percentile interval of the bootstrap draws, and the two-sided p of 0 from the sign-flip test
    over the seeds' differences: a bootstrap over 3 seeds that agree in sign would give p = 0, the exact test
    gives 0.25."""
    lo, hi = np.percentile(stats, [2.5, 97.5])
    p, resolution, _ = sign_flip_p(per_seed)
    return Delta(observed, float(lo), float(hi), p, len(per_seed), resolution)


def duration_deltas(head: pd.DataFrame, duration: pd.DataFrame) -> pd.DataFrame:
    """Per duration winner: Δ vs the baseline of the low-resource mean (paired bootstrap over the low-resource
    non-English languages x seeds, tasks weighted equally) and of the worst language (seeds drawn)."""
    base = duration.loc[duration["role"] == "baseline", "winner"]
    rows = []
    low = head[head["low_resource"].astype(bool) & (head["lang"] != "en")]
    for w in duration.loc[duration["role"] != "baseline", "winner"]:
        if base.empty:
            break
        lr = bootstrap(paired_strata(low, w, base.iloc[0]))
        worst = bootstrap_worst(*worst_arrays(head, w, base.iloc[0]))
        rows.append(
            {
                "winner": w,
                **{f"low_resource_mean_{k}": v for k, v in lr.row().items() if k != "delta"},
                **{f"worst_{k}": v for k, v in worst.row().items() if k != "delta"},
            }
        )
    out = pd.DataFrame(rows)  # two families: the low-resource mean's rows and the worst language's
    if out.empty:
        return out
    for family in ("low_resource_mean", "worst"):
        cols = {c: c.removeprefix(f"{family}_") for c in out.columns if c.startswith(f"{family}_")}
        adjusted = adjust(out[list(cols)].rename(columns=cols))
        out[f"{family}_delta_p_adjusted"] = adjusted["delta_p_adjusted"].to_numpy()
        out[f"{family}_significant"] = adjusted["significant"].to_numpy()
    return out


def delta_tables(head: pd.DataFrame, winners: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per winner (baseline excluded) Δ vs none with its bootstrap: overall (the XTREME score: tasks weighted
    equally), per target task, and per resource tier (its languages, English included as in the tier table,
    each averaged over its tasks)."""
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    overall, tasks, tiers = [], [], []
    for w in winners.loc[winners["role"] != "baseline", "winner"]:
        overall.append({"winner": w, **bootstrap(paired_strata(head, w, base)).row()})
        for task, g in head.groupby("target_task", observed=True):
            tasks.append({"winner": w, "target_task": task, **bootstrap(paired_strata(g, w, base)).row()})
        for tier, g in head.groupby("resource_tier", observed=True):
            strata = paired_strata(g, w, base, by_language=True)
            tiers.append({"winner": w, "resource_tier": tier, **bootstrap(strata).row()})
    return {  # three families, each Holm-corrected over its rows
        "overall": adjust(pd.DataFrame(overall)),
        "tasks": adjust(pd.DataFrame(tasks)),
        "tiers": adjust(pd.DataFrame(tiers)),
    }


def interval_text(delta: float, lo: float, hi: float, significant: bool) -> str:
    """'+1.23 [+0.40, +2.05] *' (the mark: significant at 95%), or the delta with TOO_FEW."""
    if not np.isfinite(delta):
        return "–"
    if not np.isfinite(lo):
        return f"{delta:+.2f} ({TOO_FEW})"
    return f"{delta:+.2f} [{lo:+.2f}, {hi:+.2f}]" + (" *" if significant else "")
