"""Duration effects within trials: what training longer does, estimated where it is identified.

A duration effect compares two milestones of one trial -- the same intermediate task, configuration and
intermediate seed, evaluated on the same target seeds and languages -- so nothing but the duration differs.
Comparing the best trial at each step instead would compare configurations (a different learning rate wins at
each step) and intermediate seeds. Effects are estimated per (intermediate task, learning rate) and pooled over a
task's trials (lr "all"), the trial as the unit.

Every source of variance is resampled, outermost first (Bouthillier et al. 2021, "Accounting for variance in
machine learning benchmarks", MLSys): trials (each an intermediate seed), then target fine-tune seeds within a
trial, then languages within a target task. The interval is the 95% percentile interval of that hierarchical
bootstrap. Its p-value comes from a sign-flip test over the trials: exact, over all 2^n sign assignments,
where there are fewer than EXACT_BELOW trials, so p is never below 2 / 2^n (three trials that agree give 0.25,
two-sided); a bootstrap over three units would give p = 0 whenever all three share a sign. Holm's step-down
correction (statsmodels' `multipletests`) runs within each family: one family per summary, all of its rows.

Replication: each effect's sign stability (the share of bootstrap draws with the estimate's sign) and its
estimate on two disjoint, seeded halves of the languages. An effect is robust when its Holm-adjusted p is
below ALPHA and both halves agree with it in sign.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

ALPHA = 0.05
EXACT_BELOW = 8  # fewer top-level units than this: the exact sign-flip test over all 2^n assignments
N_BOOT = 4000
N_FLIPS = 8192  # sign flips drawn when there are too many units to enumerate
SUMMARIES = ("mean", "low_resource_mean", "worst")
COLUMNS = [
    "intermediate_task",
    "lr",
    "from_step",
    "to_step",
    "summary",
    "estimate",
    "low",
    "high",
    "p",
    "p_resolution",
    "p_adjusted",
    "significant",
    "sign_stability",
    "half_a",
    "half_b",
    "robust",
    "n_trials",
    "n_intermediate_seeds",
    "n_target_seeds",
    "n_languages",
    "test",
    "family",
]


def sign_flip_p(units: np.ndarray, seed: int = 0) -> tuple[float, float, str]:
    """Two-sided p of mean 0 for per-unit effects, by flipping their signs: (p, its resolution, the test's
    name). Exact over all 2^n assignments below EXACT_BELOW units; else N_FLIPS random assignments, with
    the observed one counted (p >= 1 / (N_FLIPS + 1))."""
    x = np.asarray(units, dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, "no units"
    observed = abs(x.mean())
    if n < EXACT_BELOW:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        means = np.abs((signs * x).mean(axis=1))
        hits = int((means >= observed - 1e-12).sum())
        return hits / len(signs), 2 / len(signs), f"exact sign-flip over {n} trial(s)"
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(N_FLIPS, n))
    hits = int((np.abs((signs * x).mean(axis=1)) >= observed - 1e-12).sum())
    return (hits + 1) / (N_FLIPS + 1), 1 / (N_FLIPS + 1), f"sign-flip, {N_FLIPS} random assignments of {n} trials"


def p_text(p: float) -> str:
    """A p-value as it may be printed: 'p = 0.25', or 'p < 0.001' below that; never 'p = 0' (every p here is
    at least its test's resolution, 2 / 2^n for the exact test)."""
    if not np.isfinite(p):
        return "p: –"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def holm(p: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (statsmodels); NaN entries stay NaN and are not counted."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    out = np.full(len(p), math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method="holm")[1]
    return out


@dataclass(frozen=True)
class Cells:
    """One effect's paired differences, per target task: arrays of (trials x target seeds x languages), the
    same trials and seeds in every task; `worst`: the worst language per (trial, seed), both milestones."""

    strata: list[np.ndarray]
    worst: np.ndarray  # (trials x seeds): worst language of the later milestone minus the earlier's

    @property
    def shape(self) -> tuple[int, int, int]:
        t, s = self.worst.shape
        return t, s, sum(a.shape[2] for a in self.strata)


def summary_of(strata: list[np.ndarray]) -> float:
    """The mean over target tasks of each task's mean over trials, seeds and languages."""
    return float(np.mean([a.mean() for a in strata])) if strata else math.nan


def hierarchical_draws(cells: Cells, summary: str, seed: int = 0, n_boot: int = N_BOOT) -> np.ndarray:
    """Bootstrap draws of the effect: trials with replacement, then target seeds within each drawn trial, and
    (mean summaries) languages within each task, one draw per replicate: languages are crossed with trials
    and seeds (every trial is scored on the same languages), not nested in them, so redrawing them per
    (trial, seed) would average their variance away."""
    rng = np.random.default_rng(seed)
    n_trials, n_seeds, _ = cells.shape
    trials = rng.integers(0, n_trials, size=(n_boot, n_trials))
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_trials, n_seeds))
    if summary == "worst":  # the worst language is the lowest of the experiment's own: languages not drawn
        return cells.worst[trials[:, :, None], seeds].mean(axis=(1, 2))
    draws = np.zeros(n_boot)
    for a in cells.strata:
        langs = rng.integers(0, a.shape[2], size=(n_boot, a.shape[2]))
        draws += a[trials[:, :, None, None], seeds[:, :, :, None], langs[:, None, None, :]].mean(axis=(1, 2, 3))
    return draws / len(cells.strata)


def _arrays(diff: pd.DataFrame, trials: list, seeds: list, value: str = "diff") -> list[np.ndarray]:
    """Per target task, (trials x seeds x languages) of `value` on the given trials and seeds (the same in
    every task), the languages held by every one of those (trial, seed) cells."""
    out = []
    full = pd.MultiIndex.from_product([trials, seeds], names=["trial_id", "seed"])
    for _, g in diff.groupby("target_task", observed=True):
        table = g.pivot_table(index=["trial_id", "seed"], columns="lang", values=value, observed=True)
        table = table.reindex(full).dropna(axis=1)
        if table.shape[1]:
            out.append(table.to_numpy().reshape(len(trials), len(seeds), table.shape[1]))
    return out


def _common_cells(both: pd.DataFrame) -> tuple[list, list]:
    """The trials and seeds that every target task holds, each trial with every seed (a balanced design)."""
    per_task = [set(zip(g["trial_id"], g["seed"])) for _, g in both.groupby("target_task", observed=True)]
    cells = set.intersection(*per_task) if per_task else set()
    trials = sorted({t for t, _ in cells})
    seeds = sorted({s for _, s in cells})
    seeds = [s for s in seeds if all((t, s) in cells for t in trials)]
    trials = [t for t in trials if all((t, s) in cells for s in seeds)]
    return trials, seeds


def effect_cells(scores: pd.DataFrame, from_step: int, to_step: int, summary: str) -> Cells | None:
    """The paired differences (to_step minus from_step) of each trial in `scores` (one row per trial_id,
    step, target_task, seed, lang: the score), on the non-English languages of `summary` (low_resource_mean:
    the low-resource ones)."""
    rows = scores[scores["lang"] != "en"]
    if summary == "low_resource_mean":
        rows = rows[rows["low_resource"].astype(bool)]
    keys = ["trial_id", "target_task", "seed", "lang"]
    a = rows[rows["step"] == from_step].set_index(keys)["score"]
    b = rows[rows["step"] == to_step].set_index(keys)["score"]
    both = pd.concat({"a": a, "b": b}, axis=1).dropna().reset_index()
    if both.empty:
        return None
    both["diff"] = both["b"] - both["a"]
    # target seeds nested in intermediate seeds (each replicate its own, evaluation's target_seeds): the
    # k-th seed of each unit stands in the k-th column, so the design is balanced whether seeds are nested
    # in units or crossed with them
    both["seed"] = both.groupby("trial_id", observed=True)["seed"].rank(method="dense").astype(int) - 1
    trials, seeds = _common_cells(both)
    if not trials or not seeds:
        return None
    strata = _arrays(both, trials, seeds)
    if not strata:
        return None
    cells = both[both["trial_id"].isin(trials) & both["seed"].isin(seeds)]
    per = cells.groupby(["trial_id", "seed", "lang"], observed=True)[["a", "b"]].mean()  # languages over tasks
    worst = per.groupby(level=["trial_id", "seed"]).min()
    worst = (worst["b"] - worst["a"]).unstack("seed").reindex(index=trials, columns=seeds)
    return Cells(strata, worst.to_numpy())


def halves(scores: pd.DataFrame, from_step: int, to_step: int, summary: str, seed: int = 0) -> tuple[float, float]:
    """The effect on two disjoint halves of the summary's own languages (the low-resource ones for its mean),
    split by a seeded shuffle; NaN for a half without a language (one language cannot be halved)."""
    own = scores[scores["lang"] != "en"]
    if summary == "low_resource_mean":
        own = own[own["low_resource"].astype(bool)]
    langs = sorted(set(own["lang"]))
    random.Random(f"halves-{seed}").shuffle(langs)
    out = []
    for half in (langs[: len(langs) // 2], langs[len(langs) // 2 :]):
        cells = effect_cells(scores[scores["lang"].isin(half)], from_step, to_step, summary)
        out.append(_estimate(cells, summary) if cells is not None else math.nan)
    return out[0], out[1]


def _estimate(cells: Cells, summary: str) -> float:
    return float(cells.worst.mean()) if summary == "worst" else summary_of(cells.strata)


def effect_row(scores: pd.DataFrame, from_step: int, to_step: int, summary: str, seed: int = 0) -> dict | None:
    """One row of the duration-effect table (before Holm's adjustment), or None without paired cells."""
    cells = effect_cells(scores, from_step, to_step, summary)
    if cells is None:
        return None
    estimate = _estimate(cells, summary)
    draws = hierarchical_draws(cells, summary, seed)
    low, high = np.percentile(draws, [2.5, 97.5])
    per_trial = (
        cells.worst.mean(axis=1) if summary == "worst" else np.mean([a.mean(axis=(1, 2)) for a in cells.strata], axis=0)
    )
    p, resolution, test = sign_flip_p(per_trial, seed)
    half_a, half_b = halves(scores, from_step, to_step, summary, seed)
    n_trials, _, n_langs = cells.shape
    return {
        "from_step": from_step,
        "to_step": to_step,
        "summary": summary,
        "estimate": estimate,
        "low": float(low),
        "high": float(high),
        "p": p,
        "p_resolution": resolution,
        "sign_stability": float((np.sign(draws) == np.sign(estimate)).mean()) if estimate else 0.0,
        "half_a": half_a,
        "half_b": half_b,
        "n_trials": n_trials,
        "n_intermediate_seeds": int(scores["intermediate_seed"].nunique()),
        "n_target_seeds": int(scores["seed"].nunique()),  # nested in replicates: n_seeds in each
        "n_languages": n_langs,
        "test": test,
    }


def encoder_scores(head: pd.DataFrame, results: pd.DataFrame | None) -> pd.DataFrame:
    """One score per (trial, milestone, target task, target seed, language): the evaluation's headline rows
    of each distinct encoder (a milestone listed under several winners counted once), with its trial's
    intermediate task, learning rate and intermediate seed from the sweep's results. With replicates
    (search.replicates) each replicate is an intermediate run of its own, `trial_id@r<k>`: the unit the effects
    resample and pair milestones within, its seed the evaluation rows' `intermediate_seed`."""
    reps = "replicate" in head.columns and head["replicate"].nunique() > 1
    keys = ["trial_id", "step", "target_task", "seed", "lang", *(["replicate"] if reps else [])]
    rows = head[head["role"] != "baseline"].drop_duplicates(keys)
    rows = rows.assign(target_task=rows["target_task"].astype(str), lang=rows["lang"].astype(str))
    if results is None or results.empty or "trial_id" not in rows.columns:
        return rows.iloc[0:0].assign(lr=[], intermediate_seed=[])
    config = results.drop_duplicates("trial_id").set_index("trial_id")
    config = pd.DataFrame(
        {
            "lr": config["lr"] if "lr" in config.columns else math.nan,
            # a trial's intermediate seed; results without one: each trial its own draw
            "trial_seed": config["seed"] if "seed" in config.columns else config.index,
        },
        index=config.index,
    )
    rows = rows.join(config, on="trial_id", how="inner")
    own = rows["intermediate_seed"] if "intermediate_seed" in rows.columns else pd.Series(None, index=rows.index)
    rows = rows.assign(intermediate_seed=own.astype(object).where(own.notna(), rows["trial_seed"]))
    if reps:
        rows = rows.assign(trial_id=rows["trial_id"].astype(str) + "@r" + rows["replicate"].astype(int).astype(str))
    return rows.drop(columns=["trial_seed"])


def duration_effects(head: pd.DataFrame, results: pd.DataFrame | None, seed: int = 0) -> pd.DataFrame:
    """The within-trial duration effects: per (intermediate task, lr) and pooled per task (lr 'all'), for every
    pair of evaluated milestones and every summary; Holm-adjusted within each summary's family."""
    scores = encoder_scores(head, results)
    rows = []
    for task, by_task in scores.groupby("intermediate_task", observed=True):
        groups = [(f"{lr:g}", g) for lr, g in by_task.groupby("lr")]
        if len(groups) > 1:
            groups.append(("all", by_task))
        for lr, g in groups:
            steps = sorted(set(g["step"]))
            for from_step, to_step in itertools.combinations(steps, 2):
                for summary in SUMMARIES:
                    row = effect_row(g, int(from_step), int(to_step), summary, seed)
                    if row is not None:
                        rows.append({"intermediate_task": str(task), "lr": lr, **row})
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "significant", "robust")])
    table["family"] = table["summary"].map(lambda s: f"duration effects on the {s}")
    table["p_adjusted"] = math.nan
    for _, idx in table.groupby("summary").groups.items():
        table.loc[idx, "p_adjusted"] = holm(table.loc[idx, "p"].to_numpy())
    table["significant"] = table["p_adjusted"] < ALPHA
    agree = (np.sign(table["half_a"]) == np.sign(table["estimate"])) & (
        np.sign(table["half_b"]) == np.sign(table["estimate"])
    )
    table["robust"] = table["significant"] & agree
    return table[COLUMNS]
