"""`xstilts report`: the answer to the research question, from the evaluation's Parquet rows.

Writes RUN_DIR/report/ (or --out): report.md, a self-contained report.html, plots/ (PNG + SVG) and
tables/ (Parquet). A report is a list of blocks, rendered once to Markdown and once to HTML.
"""

from __future__ import annotations

import base64
import html
import re
import tempfile
from pathlib import Path

import pandas as pd

from xstilts.core.files import atomic_path, write_text
from xstilts.search.journal import Journal
from xstilts.search.report.plots import plot_delta_heatmap, plot_duration_curves
from xstilts.search.report.sections import (
    STAND_IN,
    agreement_section,
    duration_section,
    language_section,
    reference_section,
    selection_section,
    task_section,
    verdict_section,
    xtreme_section,
)
from xstilts.search.report.tables import build_tables, duration_winners
from xstilts.search.rundir import REPORT_DIR, RunDir
from xstilts.tasks.loading import WORLD_LABEL

# Blocks: ("h", level, text) | ("p", text) | ("note", text) | ("ul", [text]) | ("table", DataFrame)
#         | ("img", path, caption)


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
    head, winners = t["headline"], t["winners"]
    sources, seeds = sorted(head["source"].unique()), sorted(head["seed"].unique())
    synthetic = WORLD_LABEL in sources  # the label says `prepare` generated the data (tasks/loading.py)
    stand_in = head["stand_in"].fillna(False).astype(bool) if "stand_in" in head else pd.Series(False, index=head.index)
    stand_ins = sorted(map(str, head.loc[stand_in, "target_task"].unique()))
    tag = f"{split} split" + (", offline world: synthetic scores" if synthetic else "")
    heatmaps = _plots(t, out, tag, len(seeds))
    best = winners[winners["role"] == "best"]
    low = sorted(head.loc[head["low_resource"].astype(bool) & (head["lang"] != "en"), "lang"].unique())
    title = f"xstilts report: {prov['experiment']}"
    blocks = _opening(title, synthetic, stand_ins, split, sources, seeds, prov)
    if errored := errored_note(run_dir):
        blocks.insert(1, ("note", errored))
    blocks += verdict_section(t["duration_effects"], low, t["chance"])
    blocks += xtreme_section(t["xtreme_scores"], prov["selection rule"])
    blocks += selection_section(t["selection"])
    blocks += agreement_section(t["rank_agreement"])
    blocks += task_section(t["task_deltas"], stand_ins)
    blocks += duration_section(t["duration"], t["duration_effects"], low, "plots/duration_curves.png", len(seeds))
    blocks += language_section(
        t["language_deltas"],
        t["tier_deltas"],
        best["winner"].tolist(),
        {w: p.relative_to(out).as_posix() for w, p in heatmaps.items()},
        t["chance"],
    )
    blocks += [] if synthetic else reference_section(t["reference"], stand_ins)
    blocks += [("h", 2, "Provenance"), ("table", t["provenance"])]
    write_text(out / "report.md", render_markdown(blocks))
    write_text(out / "report.html", render_html(blocks, out, title))
    return out / "report.md"


def _plots(t: dict[str, pd.DataFrame], out: Path, tag: str, n_seeds: int) -> dict[str, Path]:
    """The duration curves and each best winner's language heatmap (winner -> its PNG)."""
    winners, robust = t["winners"], t["robustness_per_seed"]
    plot_duration_curves(
        robust[robust["winner"].isin(duration_winners(winners)["winner"])],
        robust[robust["role"] == "baseline"],
        out / "plots" / "duration_curves",
        title=f"Zero-shot transfer vs intermediate-training duration ({tag})",
    )
    best = winners[winners["role"] == "best"]
    return {
        w: plot_delta_heatmap(
            t["language_deltas"].query("winner == @w"),
            out / "plots" / f"heatmap_{re.sub(r'[^A-Za-z0-9]+', '_', w)}",
            title=f"{w} ({s} steps) − none\nmean over {n_seeds} seeds ({tag})",
        )[0]
        for w, s in zip(best["winner"], best["step"])
    }


def _opening(
    title: str, synthetic: bool, stand_ins: list[str], split: str, sources: list, seeds: list, prov: dict
) -> list[tuple]:
    """The report's title, its notes (synthetic scores, stand-in splits) and where its numbers come from."""
    blocks: list[tuple] = [("h", 1, title)]
    if synthetic:
        note = (
            "Data source: offline world. These scores are synthetic: they test the machinery and are not "
            "benchmark numbers."
        )
        blocks.append(("note", note))
    if stand_ins and split == "test":
        note = (
            f"{STAND_IN} {', '.join(stand_ins)}: the '{split}' scores of these tasks are read from another split "
            "(evaluation.test_split), since the data has no labelled test set for them; every such score is "
            f"marked {STAND_IN}."
        )
        blocks.append(("note", note))
    where = (
        f"Data source: {'; '.join(sources)}. "
        f"Winners selected by {prov['selection rule']}. Split: {split}. Seeds: {', '.join(map(str, seeds))}. "
        f"Config digest: {prov['config digest']}. Provenance at the end."
    )
    return [*blocks, ("p", where)]


def errored_note(run_dir: RunDir) -> str | None:
    """The report's warning when trials of the sweep raised: how many, and the configurations missing from
    every table (None when none did)."""
    errors = Journal(run_dir).errors() if run_dir.has_ledger() else []
    if not errors:
        return None
    missing = "; ".join(
        f"{c.get('intermediate_task', '?')}, {c.get('intermediate_steps', '?')} steps, lr {c.get('lr', '?')}, "
        f"seed {c.get('seed', '?')} ({e.get('reason', 'unknown error')})"
        for e in errors
        for c in [e.get("config") or {}]
    )
    return (
        f"{len(errors)} trial(s) of the sweep errored, so this report is on a partial sweep; missing: {missing}. "
        "Rerun them with `xstilts sweep --resume --retry-errored`, then `xstilts evaluate` and `xstilts report`."
    )
