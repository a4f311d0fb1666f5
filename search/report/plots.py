"""The report's figures: duration curves and task x language delta heat maps, as PNG and SVG.

Uses matplotlib's object API (Figure + Agg), never pyplot, so no global backend or figure state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from xstilts.core.files import atomic_path
from xstilts.tasks.languages import TIERS
from xstilts.tasks.metrics import XTREME_TASKS

DURATION_PANELS = (
    ("mean", "mean over non-English languages"),
    ("low_resource_mean", "low-resource mean"),
    ("worst", "worst language"),
)
DELTA_LABEL = "Δ score vs no intermediate (points)"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


def task_order(tasks) -> list[str]:
    """The tasks in XTREME's order (classification, tagging, QA, retrieval), unknown ones after, sorted."""
    tasks = {str(t) for t in tasks}
    return [t for t in XTREME_TASKS if t in tasks] + sorted(tasks - set(XTREME_TASKS))


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write `stem`.png and `stem`.svg without timestamps (SVG ids salted: same figure, same file)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "xstilts", "svg.fonttype": "none"}):
        for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
            path = stem.with_name(f"{stem.name}.{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150, metadata=meta)
            paths.append(path)
    return paths


def curve(per_seed: pd.DataFrame, baseline: pd.DataFrame, task: str, col: str) -> pd.DataFrame:
    """One intermediate task's line: mean, min and max over seeds of `col` by step, starting at step 0 with
    the baseline (no intermediate training is zero steps of it)."""
    rows = pd.concat([baseline.assign(step=0), per_seed[per_seed["intermediate_task"] == task]])
    return rows.groupby("step")[col].agg(["mean", "min", "max"]).dropna()


def plot_duration_curves(per_seed: pd.DataFrame, baseline: pd.DataFrame, stem: Path, *, title: str) -> list[Path]:
    """Score vs intermediate steps; one panel per summary, one line per intermediate task.

    per_seed: one row per (duration winner, seed) with intermediate_task, step, mean, low_resource_mean,
    worst. Lines are the mean over seeds, shaded bands the min-max over seeds, each starting at step 0 from the
    baseline (the 'none' winner's seeds, same columns), also drawn as a dashed line with a grey min-max band.
    """
    tasks = sorted(per_seed["intermediate_task"].unique())
    steps = sorted({0, *per_seed["step"].unique()})
    colors = matplotlib.colormaps["tab10" if len(tasks) <= 10 else "tab20"]
    fig = Figure(figsize=(15, 5.2), layout="constrained")
    axes = fig.subplots(1, len(DURATION_PANELS))
    handles: dict[str, Any] = {}
    for ax, (col, label) in zip(axes, DURATION_PANELS):
        for i, task in enumerate(tasks):
            g = curve(per_seed, baseline, task, col)
            if not (g.index > 0).any():  # no duration of this task: the baseline alone
                continue
            color = colors(i)
            (line,) = ax.plot(g.index, g["mean"], marker=MARKERS[i % len(MARKERS)], color=color, lw=1.8)
            ax.fill_between(g.index, g["min"], g["max"], color=color, alpha=0.18, lw=0)
            handles.setdefault(task, line)
        base = baseline[col].dropna()
        if len(base):
            handles["none (no intermediate)"] = ax.axhline(base.mean(), color="black", ls="--", lw=1.3)
            ax.axhspan(base.min(), base.max(), color="grey", alpha=0.15, lw=0)
        ax.set_title(label)
        ax.set_xlabel("intermediate training steps")
        ax.set_ylabel("score (%)")
        if len(steps) <= 8:
            ax.set_xticks(steps)
        ax.grid(alpha=0.3)
    n_seeds = pd.concat([per_seed["seed"], baseline["seed"]]).nunique()
    handles[f"shaded: min–max over {n_seeds} seeds"] = Patch(color="grey", alpha=0.3)
    fig.legend(
        list(handles.values()), list(handles), loc="outside lower center", ncols=min(len(handles), 6), frameon=False
    )
    fig.suptitle(title)
    return save_figure(fig, stem)


def _language_order(deltas: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Languages sorted by resource tier (high, mid, low), then code; and each one's tier."""
    rank = {tier: i for i, tier in enumerate(TIERS)}
    langs = deltas.drop_duplicates("lang")[["lang", "resource_tier"]].astype(str)
    langs = langs.assign(rank=langs["resource_tier"].map(rank)).sort_values(["rank", "lang"])
    return langs["lang"].tolist(), langs["resource_tier"].tolist()


def _mark_tiers(ax, tiers: list[str]) -> None:
    """Vertical separators between resource tiers and the tier names above the columns."""
    starts = [i for i, tier in enumerate(tiers) if i == 0 or tier != tiers[i - 1]]
    ends = starts[1:] + [len(tiers)]
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="black", lw=1.2)
    top = ax.secondary_xaxis("top")
    top.set_xticks(
        [(s + e - 1) / 2 for s, e in zip(starts, ends)],
        [f"{tiers[s]} ({e - s})" if e - s > 1 else tiers[s] for s, e in zip(starts, ends)],
    )
    top.tick_params(length=0, labelsize=9)


def plot_delta_heatmap(deltas: pd.DataFrame, stem: Path, *, title: str) -> list[Path]:
    """Task x language heat map of Δ vs the baseline, languages grouped by resource tier.

    deltas: one row per (target_task, lang) with resource_tier and delta (points). The figure widens with
    the language count; cells are annotated when there are at most 20 languages; grey = not evaluated.
    """
    order, tiers = _language_order(deltas)
    tasks = task_order(deltas["target_task"].unique())
    deltas = deltas.astype({"target_task": str, "lang": str})
    grid = deltas.pivot(index="target_task", columns="lang", values="delta").reindex(index=tasks, columns=order)
    values = grid.to_numpy(dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    n = len(order)
    fig = Figure(figsize=(max(7.0, 0.34 * n + 3.5), 2.4 + 0.5 * len(tasks)), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="#d0d0d0")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(n), order, rotation=90 if n > 12 else 0, fontsize=8 if n > 20 else 9)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=9)
    ax.set_xlabel("language (ISO 639-1), grouped by resource tier; grey: not evaluated")
    ax.set_ylabel("target task")
    _mark_tiers(ax, tiers)
    if n <= 20:
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(
                    c,
                    r,
                    f"{v:+.1f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(v) > 0.6 * lim else "black",
                )
    cbar = fig.colorbar(im, ax=ax, fraction=0.05 if n > 20 else 0.08, pad=0.01)
    cbar.set_label(DELTA_LABEL)
    ax.set_title(title, fontsize=11, pad=18)  # pad: room for the tier names above
    return save_figure(fig, stem)
