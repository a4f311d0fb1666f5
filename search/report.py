"""`xstilts report`: the answer to the research question, from the evaluation's Parquet rows.

Writes RUN_DIR/report/ (or --out): report.md, a self-contained report.html, plots/ (PNG + SVG) and
tables/ (Parquet). A report is a list of blocks, rendered once to Markdown and once to HTML.
"""

from __future__ import annotations

import base64
import html
import math
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts.search.plots import DELTA_LABEL, plot_delta_heatmap, plot_duration_curves
from xstilts.search.report_stats import MIN_SEEDS, N_BOOT, TOO_FEW, interval_text
from xstilts.search.report_tables import SUMMARIES, build_tables, duration_winners
from xstilts.search.rundir import REPORT_DIR, RunDir
from xstilts.tasks.files import atomic_path, write_text
from xstilts.tasks.loading import WORLD_LABEL
from xstilts.tasks.reference_scores import MODELS as REFERENCE_MODELS

# Blocks: ("h", level, text) | ("p", text) | ("note", text) | ("ul", [text]) | ("table", DataFrame)
#         | ("img", path, caption)


def _num(x: float, sign: bool = False) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.2f}" if sign else f"{x:.2f}"


def _pm(mean: float, ci: float, n: int, sign: bool = False) -> str:
    """'62.31 ± 1.20' (95% t-interval over seeds), or '62.31 (too few seeds for an interval)' below
    MIN_SEEDS seeds: a t-interval from 2 seeds has 1 degree of freedom (t = 12.7) and says little."""
    if not np.isfinite(mean):
        return "–"
    if n < MIN_SEEDS or not np.isfinite(ci):
        return f"{_num(mean, sign)} ({TOO_FEW})"
    return f"{_num(mean, sign)} ± {ci:.2f}"


def _tested(d: pd.DataFrame) -> list[str]:
    """Each row's Δ with its bootstrap interval and significance mark (report_stats.interval_text)."""
    if "delta_lo" not in d:
        return [interval_text(x, math.nan, math.nan, False) for x in d["delta"]]
    return [interval_text(*r) for r in zip(d["delta"], d["delta_lo"], d["delta_hi"], d["significant"].fillna(False))]


TEST_TEXT = (
    "Δ vs none: the winner minus the baseline, paired by target fine-tune seed and language, with its 95% "
    "paired-bootstrap interval over languages x seeds (seeds drawn with replacement, and languages within each "
    "task; {n} draws); * marks a difference whose interval excludes 0 (significant at 95%). With fewer than "
    "{m} seeds: {few}."
)


def _md_table(df: pd.DataFrame) -> str:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in [list(df.columns), *df.astype(str).values.tolist()]]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in cells[0]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])


def render_markdown(blocks: list[tuple]) -> str:
    """report.md: images referenced by their path relative to the report directory."""
    md = {
        "h": lambda a: "#" * a[0] + " " + a[1],
        "p": lambda a: a[0],
        "note": lambda a: f"> **{a[0]}**",
        "ul": lambda a: "\n".join(f"- {x}" for x in a[0]),
        "table": lambda a: _md_table(a[0]),
        "img": lambda a: f"![{a[1]}]({a[0]})\n\n*{a[1]}* ([SVG]({Path(a[0]).with_suffix('.svg')}))",
    }
    return "\n\n".join(md[kind](a) for kind, *a in blocks) + "\n"


def render_html(blocks: list[tuple], root: Path, title: str) -> str:
    """report.html: one self-contained page, PNGs embedded as base64 data URIs."""
    e = html.escape
    page = {
        "h": lambda a: f"<h{a[0]}>{e(a[1])}</h{a[0]}>",
        "p": lambda a: f"<p>{e(a[0])}</p>",
        "note": lambda a: f'<p class="note"><strong>{e(a[0])}</strong></p>',
        "ul": lambda a: "<ul>" + "".join(f"<li>{e(x)}</li>" for x in a[0]) + "</ul>",
        "table": lambda a: a[0].to_html(index=False, border=0, escape=True),
        "img": lambda a: (
            f'<figure><img src="data:image/png;base64,'
            f'{base64.b64encode((root / a[0]).read_bytes()).decode("ascii")}" alt="{e(a[1])}">'
            f"<figcaption>{e(a[1])}</figcaption></figure>"
        ),
    }
    out = [page[kind](a) for kind, *a in blocks]
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
        "text-align:right}img{max-width:100%}.note{background:#fff3cd;padding:.6em}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )


def _xtreme_section(xt: pd.DataFrame, select: str) -> list[tuple]:
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
            "XTREME score (mean ± 95% CI)": [_pm(*r) for r in zip(xt["mean"], xt["ci95"], xt["n_seeds"])],
            "Δ vs none (points) [95% interval]": [
                "–" if r == "baseline" else cell for r, cell in zip(xt["role"], _tested(xt))
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


def _selection_section(sel: pd.DataFrame) -> list[tuple]:
    if sel.empty:
        return []
    shown = pd.DataFrame(
        {
            "intermediate task": sel["intermediate_task"],
            "English dev: winner": sel["english_dev_winner"],
            "English dev score": [_num(v) for v in sel["english_dev"]],
            "rank (English dev)": sel["english_dev_rank"],
            "target dev: winner": sel["target_dev_winner"],
            "target dev score": [_num(v) for v in sel["target_dev"]],
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


def _agreement_section(ra: pd.DataFrame) -> list[tuple]:
    if ra.empty:
        return []
    shown = pd.DataFrame(
        {
            "target tasks": ra["scope"],
            "summary": ra["summary"].map({"mean": "mean", "low_resource_mean": "low-resource mean"}),
            "Spearman": [_num(v) for v in ra["spearman"]],
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


def _reference_section(ref: pd.DataFrame, stand_ins: list[str]) -> list[tuple]:
    """The baseline's zero-shot scores per language beside Hu et al. 2020's (context only)."""
    if ref.empty:
        return []
    shown = pd.DataFrame(
        {
            "task": [f"{t} {STAND_IN}" if t in stand_ins else str(t) for t in ref["target_task"]],
            "language": ref["lang"],
            "tier": ref["resource_tier"],
            "none (this run)": [_num(v) for v in ref["none"]],
            **{f"{m} (Hu et al. 2020)": [_num(v) for v in ref[m]] for m in REFERENCE_MODELS},
        }
    )
    return [
        ("h", 2, "The baseline beside published reference points"),
        (
            "p",
            "The no-intermediate baseline's zero-shot score per target task and language (mean over seeds), "
            "beside the per-language zero-shot results that XTREME (Hu et al. 2020, arXiv 2003.11080) reports for "
            "mBERT and XLM-R Large where it reports one. They are context only: those models are larger, "
            "fine-tuned on all of the English training data with the full recipe, and scored on the full test "
            "sets; '–' where the paper has no number.",
        ),
        ("table", shown),
    ]


def _task_section(td: pd.DataFrame, stand_ins: Sequence[str] = ()) -> list[tuple]:
    base = td[td["role"] == "baseline"].assign(
        cell=lambda d: [_pm(*r) for r in zip(d["mean"], d["ci95"], d["n_seeds"])]
    )
    rest = td[td["role"] != "baseline"]
    rest = rest.assign(cell=_tested(rest))
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


def _sentence(task: str, d: pd.DataFrame, base: pd.Series) -> str:
    """How the low-resource mean and the worst language move from the shortest to the longest duration."""
    ends = d.iloc[[0, -1]] if len(d) > 1 else d

    def path(col: str, sign: bool = False, lang: bool = False) -> str:
        return " → ".join(_num(r[col], sign) + (f" ({r['worst_lang']})" if lang else "") for _, r in ends.iterrows())

    top = d.loc[d["low_resource_mean"].fillna(-math.inf).idxmax()]
    return (
        f"{task} ({' → '.join(map(str, ends['step']))} intermediate steps): low-resource mean "
        f"{path('low_resource_mean')} (Δ vs none {path('delta_low_resource_mean', True)}; highest "
        f"{_num(top['low_resource_mean'])} at {top['step']} steps), worst language {path('worst', lang=True)} "
        f"(Δ {path('delta_worst', True)}); none: {_num(base['low_resource_mean'])} and "
        f"{_num(base['worst'])} ({base['worst_lang']})."
    )


def _effect(row: pd.Series, col: str) -> str:
    d, lo, hi, p = (row[f"{col}_{k}"] for k in ("delta", "delta_lo", "delta_hi", "delta_p"))
    text = interval_text(d, lo, hi, bool(row[f"{col}_significant"]))
    if not np.isfinite(lo):
        return text
    shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return f"{text} ({shown}, {'significant' if row[f'{col}_significant'] else 'not significant'} at 95%)"


def _longer_section(effects: pd.DataFrame) -> list[tuple]:
    """The research question, per intermediate task: does training longer change the low-resource mean and
    the worst language significantly?"""
    if effects.empty:
        return [("p", "Training longer: no intermediate task has winners at two durations or more.")]
    lines = [
        f"{r['intermediate_task']}, {r['from_step']} → {r['to_step']} intermediate steps: low-resource mean "
        f"{_effect(r, 'low_resource_mean')}; worst language {_effect(r, 'worst')}."
        for _, r in effects.iterrows()
    ]
    return [
        ("h", 3, "Does training longer change robustness?"),
        (
            "p",
            "Per intermediate task, its longest duration winner minus its shortest (points), paired by seed and "
            "language, with the 95% paired-bootstrap interval (low-resource mean: over the low-resource "
            "languages x seeds, tasks weighted equally; worst language: the lowest language score per seed, "
            "seeds drawn, every language kept); * and 'significant' when the interval excludes 0.",
        ),
        ("ul", lines),
    ]


def _duration_section(dt: pd.DataFrame, effects: pd.DataFrame, low: list[str], plot: str, n_seeds: int) -> list[tuple]:
    base = dt[dt["role"] == "baseline"].iloc[0]
    rest = dt[dt["role"] != "baseline"]
    shown = pd.DataFrame({"intermediate task": dt["intermediate_task"], "steps": dt["step"], "seeds": dt["n_seeds"]})
    for s, name in zip(SUMMARIES, ("mean", "low-resource mean", "worst language")):
        shown[f"{name} (± sd)"] = [
            _num(m) + ("" if not np.isfinite(sd) else f" ± {sd:.2f}") for m, sd in zip(dt[s], dt[f"{s}_sd"])
        ]
        tested = f"{s}_delta_lo" in dt.columns  # low-resource mean and worst: with the bootstrap vs none
        shown[f"Δ {name}"] = [
            "–"
            if r["role"] == "baseline"
            else interval_text(r[f"delta_{s}"], r[f"{s}_delta_lo"], r[f"{s}_delta_hi"], bool(r[f"{s}_significant"]))
            if tested
            else _num(r[f"delta_{s}"], True)
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
            "the 95% paired-bootstrap interval (as below), * when it excludes 0. Durations use the best trial "
            "at each step.",
        ),
        ("ul", [_sentence(t, d.sort_values("step"), base) for t, d in rest.groupby("intermediate_task")]),
        ("table", shown),
        *_longer_section(effects),
        (
            "img",
            plot,
            f"Score vs intermediate training steps (lines: mean over seeds; bands: min–max over "
            f"{n_seeds} seeds; dashed: none baseline, grey band its min–max).",
        ),
    ]


def _language_section(ld: pd.DataFrame, tiers: pd.DataFrame, best: list[str], plots: dict[str, str]) -> list[tuple]:
    tiers = tiers[tiers["winner"].isin(best)]
    tiers = tiers.assign(cell=[f"{c} ({n})" for c, n in zip(_tested(tiers), tiers["n_langs"])])
    blocks = [
        ("h", 2, "Per-language robustness"),
        (
            "p",
            "Δ vs none per language (points, mean over seeds), grouped by resource tier (Joshi class: high "
            "4-5, mid 3, low 0-2). Tier cell: mean over the tier's languages of each language's Δ averaged "
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
    ]
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
                    lambda v: _num(v, True) if isinstance(v, float) else v
                ),
            ),
        ]
    return blocks


def write_report(run_dir: RunDir | Path | str, out_dir: Path | None = None, *, split: str = "test") -> Path | str:
    """Write the report of `run_dir` to the local directory `out_dir` (default RUN_DIR/report/; a run
    directory on an object store gets a copy of a report written locally first); returns where report.md is
    (a local Path, or the object's URI)."""
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if out_dir is not None:
        return _write_files(run_dir, Path(out_dir), split)
    if run_dir.local:
        return _write_files(run_dir, run_dir.path / REPORT_DIR, split)
    with tempfile.TemporaryDirectory(prefix="xstilts-report-") as tmp:
        _write_files(run_dir, Path(tmp), split)
        return run_dir.put_report(Path(tmp))


def _write_files(run_dir: RunDir, out: Path, split: str) -> Path:
    t = build_tables(run_dir, split)
    prov = dict(zip(t["provenance"]["key"], t["provenance"]["value"]))
    for name, df in t.items():
        if name != "headline":
            with atomic_path(out / "tables" / f"{name}.parquet") as tmp:
                df.to_parquet(tmp, index=False)
    head, winners, robust = t["headline"], t["winners"], t["robustness_per_seed"]
    sources, seeds = sorted(head["source"].unique()), sorted(head["seed"].unique())
    synthetic = WORLD_LABEL in sources  # the label says `prepare` generated the data (tasks/loading.py)
    stand_in = head["stand_in"].fillna(False).astype(bool) if "stand_in" in head else pd.Series(False, index=head.index)
    stand_ins = sorted(map(str, head.loc[stand_in, "target_task"].unique()))
    tag = f"{split} split" + (", offline world: synthetic scores" if synthetic else "")
    plot_duration_curves(
        robust[robust["winner"].isin(duration_winners(winners)["winner"])],
        robust[robust["role"] == "baseline"],
        out / "plots" / "duration_curves",
        title=f"Zero-shot transfer vs intermediate-training duration ({tag})",
    )
    best = winners[winners["role"] == "best"]
    heatmaps = {
        w: plot_delta_heatmap(
            t["language_deltas"].query("winner == @w"),
            out / "plots" / f"heatmap_{re.sub(r'[^A-Za-z0-9]+', '_', w)}",
            title=f"{w} ({s} steps) − none\nmean over {len(seeds)} seeds ({tag})",
        )[0]
        for w, s in zip(best["winner"], best["step"])
    }
    low = sorted(head.loc[head["low_resource"].astype(bool) & (head["lang"] != "en"), "lang"].unique())
    title = f"xstilts report: {prov['experiment']}"
    blocks = [("h", 1, title)] + [
        (
            "note",
            "Data source: offline world. These scores are synthetic: they test the "
            "machinery and are not benchmark numbers.",
        )
    ] * synthetic
    blocks += [
        (
            "note",
            f"{STAND_IN} {', '.join(stand_ins)}: the '{split}' scores of these tasks are read from another split "
            "(evaluation.test_split), since the data has no labelled test set for them; every such score is "
            f"marked {STAND_IN}.",
        )
    ] * bool(stand_ins and split == "test")
    blocks += [
        (
            "p",
            f"Data source: {'; '.join(sources)}. "
            f"Winners selected by {prov['selection rule']}. Split: {split}. Seeds: {', '.join(map(str, seeds))}. "
            f"Config digest: {prov['config digest']}. Provenance at the end.",
        )
    ]
    blocks += _xtreme_section(t["xtreme_scores"], prov["selection rule"])
    blocks += _selection_section(t["selection"])
    blocks += _agreement_section(t["rank_agreement"])
    blocks += _task_section(t["task_deltas"], stand_ins)
    blocks += _duration_section(t["duration"], t["duration_effects"], low, "plots/duration_curves.png", len(seeds))
    blocks += _language_section(
        t["language_deltas"],
        t["tier_deltas"],
        best["winner"].tolist(),
        {w: p.relative_to(out).as_posix() for w, p in heatmaps.items()},
    )
    blocks += [] if synthetic else _reference_section(t["reference"], stand_ins)
    blocks += [("h", 2, "Provenance"), ("table", t["provenance"])]
    write_text(out / "report.md", render_markdown(blocks))
    write_text(out / "report.html", render_html(blocks, out, title))
    return out / "report.md"
