"""`xstilts report`: the answer to the research question, from EXP/evaluation/evaluation.parquet.

Writes EXP/report/: report.md, a self-contained report.html, plots/ (PNG + SVG) and tables/ (Parquet).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts.search.plots import DELTA_LABEL, plot_delta_heatmap, plot_duration_curves, task_order
from xstilts.tasks.languages import TIERS
from xstilts.tasks.metrics import summarize_probe

EVALUATION = Path("evaluation") / "evaluation.parquet"
RESULTS = "results.parquet"
EXPERIMENT_JSON = "xstilts-experiment.json"
ROLES = ("baseline", "best", "duration")
PACKAGES = ("xstilts", "torch", "transformers", "datasets", "ray", "optuna", "pandas", "matplotlib")
SUMMARIES = ("mean", "low_resource_mean", "worst")

# Student t quantile t(0.975, df) for df = 1..30 (scipy.stats.t.ppf); beyond, a Cornish-Fisher series.
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157,
         2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922,
         2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831,
         2.048407, 2.045230, 2.042272)


def t_quantile_975(df: int) -> float:
    """Return the 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95% CI)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96, (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
         (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def ci95(values: np.ndarray | pd.Series) -> float:
    """Half-width of the 95% t confidence interval of the mean; NaN with fewer than two values."""
    v = np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))]
    return math.nan if len(v) < 2 else float(t_quantile_975(len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def load_headline(exp_dir: Path, split: str) -> pd.DataFrame:
    """Headline rows of `split`: one per (winner, target_task, seed, lang), sorted; raises on bad input."""
    path = Path(exp_dir) / EVALUATION
    if not path.exists():
        raise FileNotFoundError(f"{path}: no evaluation yet (run `xstilts evaluate` first)")
    ev = pd.read_parquet(path)
    if split not in set(ev["split"]):
        raise ValueError(f"{path}: no {split!r} rows. Available splits: {', '.join(sorted(set(ev['split'])))}")
    rows = ev[(ev["split"] == split) & ev["headline"].astype(bool)]
    keys = ["winner", "target_task", "seed", "lang"]
    dup = rows.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(f"{path}: more than one headline row for {rows[dup].iloc[0][keys].to_dict()} ({split})")
    if not (rows["role"] == "baseline").any():
        raise ValueError(f"{path}: no baseline ('none') winner to compare with")
    # Categories keep XTREME's task order and the high -> mid -> low tier order in every table.
    rows = rows.assign(step=rows["step"].astype(int), seed=rows["seed"].astype(int),
                       target_task=pd.Categorical(rows["target_task"], task_order(rows["target_task"].unique())),
                       resource_tier=pd.Categorical(rows["resource_tier"], TIERS))
    return rows.sort_values(keys, kind="mergesort").reset_index(drop=True)


def winners_table(head: pd.DataFrame, results: pd.DataFrame | None) -> pd.DataFrame:
    """One row per winner (baseline, best, duration; then task and step) with its trial's lr and batch size."""
    w = head.drop_duplicates("winner")[["winner", "role", "intermediate_task", "step", "trial_id"]]
    w = w.assign(role_rank=w["role"].map({r: i for i, r in enumerate(ROLES)}).fillna(len(ROLES)))
    w = w.sort_values(["role_rank", "intermediate_task", "step", "winner"]).drop(columns="role_rank")
    if results is not None and {"trial_id", "lr", "batch_size"} <= set(results.columns):
        hp = results.drop_duplicates("trial_id")[["trial_id", "lr", "batch_size"]]
        w = w.merge(hp, on="trial_id", how="left")
    return w.reset_index(drop=True)


def _vs_baseline(per_seed: pd.DataFrame, by: list[str], value: str, base: str) -> pd.DataFrame:
    """Mean ± 95% CI over seeds per group of `by` (winner first), and its difference from winner `base`.

    delta is the difference of the seed means; delta_ci95 the CI of the per-seed differences, seeds
    paired by seed value (the same seed drives the target fine-tune of both).
    """
    rest = by[1:]
    b = per_seed.loc[per_seed["winner"] == base, [*rest, "seed", value]].rename(columns={value: "base"})
    paired = per_seed.merge(b, on=[*rest, "seed"], how="left")
    paired["diff"] = paired[value] - paired["base"]
    out = paired.groupby(by, sort=False, observed=True).agg(
        n_seeds=(value, "size"), mean=(value, "mean"), ci95=(value, ci95), delta_ci95=("diff", ci95),
        n_paired=("diff", "count")).reset_index()
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
    per_seed = task_means(head).groupby(["winner", "seed"], as_index=False).agg(
        xtreme_score=("score", "mean"), n_tasks=("target_task", "nunique"))
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


def tier_delta_table(lang_deltas: pd.DataFrame) -> pd.DataFrame:
    """Per (winner, resource_tier): mean over the tier's languages of each language's mean delta over tasks."""
    per_lang = lang_deltas.groupby(["winner", "resource_tier", "lang"], as_index=False)["delta"].mean()
    return per_lang.groupby(["winner", "resource_tier"], as_index=False).agg(
        delta=("delta", "mean"), n_langs=("lang", "nunique"))


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


def duration_winners(winners: pd.DataFrame) -> pd.DataFrame:
    """The duration-curve winners: role 'duration' (an intermediate task without any: its 'best')."""
    w = winners[winners["role"] != "baseline"]
    has = set(w.loc[w["role"] == "duration", "intermediate_task"])
    return w[(w["role"] == "duration") | ((w["role"] == "best") & ~w["intermediate_task"].isin(has))]


def duration_table(robust: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """Per duration winner and the baseline (step 0): each summary's seed mean, sd, min, max and Δ vs none."""
    base = winners.loc[winners["role"] == "baseline", "winner"].iloc[0]
    keep = set(duration_winners(winners)["winner"]) | {base}
    rows = []
    for winner, g in robust[robust["winner"].isin(keep)].groupby("winner", sort=False):
        row = g.iloc[0][["winner", "role", "intermediate_task", "step"]].to_dict() | {"n_seeds": len(g)}
        for s in SUMMARIES:
            row |= {s: g[s].mean(), f"{s}_sd": g[s].std(ddof=1) if len(g) > 1 else math.nan,
                    f"{s}_min": g[s].min(), f"{s}_max": g[s].max()}
        counts = g["worst_lang"].value_counts()
        row["worst_lang"] = sorted(counts[counts == counts.max()].index)[0]  # most often worst; ties: by code
        rows.append(row)
    out = pd.DataFrame(rows)
    base_row = out[out["winner"] == base].iloc[0]
    for s in SUMMARIES:
        out[f"delta_{s}"] = out[s] - base_row[s]
    out = out.assign(is_base=out["winner"] != base).sort_values(["is_base", "intermediate_task", "step"])
    return out.drop(columns="is_base").reset_index(drop=True)


# ----------------------------------------------------------------------------- rendering
# A report is a list of blocks, rendered once to Markdown and once to HTML: the same content in both.
# ("h", level, text) | ("p", text) | ("note", text) | ("ul", [text]) | ("table", DataFrame) | ("img", path, caption)


def _num(x: float, sign: bool = False) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.2f}" if sign else f"{x:.2f}"


def _pm(mean: float, ci: float, n: int, sign: bool = False) -> str:
    """'62.31 ± 1.20', or '62.31 (n=1, no CI)' when the interval needs two seeds or more."""
    if not np.isfinite(mean):
        return "–"
    return f"{_num(mean, sign)} ± {ci:.2f}" if np.isfinite(ci) else f"{_num(mean, sign)} (n={n}, no CI)"


def _md_table(df: pd.DataFrame) -> str:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in [list(df.columns), *df.astype(str).values.tolist()]]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in cells[0]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])


def render_markdown(blocks: list[tuple]) -> str:
    """report.md: images referenced by their path relative to the report directory."""
    md = {"h": lambda a: "#" * a[0] + " " + a[1], "p": lambda a: a[0], "note": lambda a: f"> **{a[0]}**",
          "ul": lambda a: "\n".join(f"- {x}" for x in a[0]), "table": lambda a: _md_table(a[0]),
          "img": lambda a: f"![{a[1]}]({a[0]})\n\n*{a[1]}* ([SVG]({Path(a[0]).with_suffix('.svg')}))"}
    return "\n\n".join(md[kind](a) for kind, *a in blocks) + "\n"


def render_html(blocks: list[tuple], root: Path, title: str) -> str:
    """report.html: one self-contained page, PNGs embedded as base64 data URIs."""
    e = html.escape
    page = {"h": lambda a: f"<h{a[0]}>{e(a[1])}</h{a[0]}>", "p": lambda a: f"<p>{e(a[0])}</p>",
            "note": lambda a: f'<p class="note"><strong>{e(a[0])}</strong></p>',
            "ul": lambda a: "<ul>" + "".join(f"<li>{e(x)}</li>" for x in a[0]) + "</ul>",
            "table": lambda a: a[0].to_html(index=False, border=0, escape=True),
            "img": lambda a: f'<figure><img src="data:image/png;base64,'
                             f'{base64.b64encode((root / a[0]).read_bytes()).decode("ascii")}" alt="{e(a[1])}">'
                             f"<figcaption>{e(a[1])}</figcaption></figure>"}
    out = [page[kind](a) for kind, *a in blocks]
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
             "text-align:right}img{max-width:100%}.note{background:#fff3cd;padding:.6em}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def _xtreme_section(xt: pd.DataFrame, select: str) -> list[tuple]:
    shown = pd.DataFrame({
        "winner": xt["winner"], "role": xt["role"], "intermediate task": xt["intermediate_task"],
        "steps": xt["step"], "lr": xt["lr"].map(lambda v: f"{v:.2e}") if "lr" in xt else "–",
        "batch size": xt["batch_size"] if "batch_size" in xt else "–", "seeds": xt["n_seeds"],
        "tasks": xt["n_tasks"], "XTREME score (mean ± 95% CI)": [_pm(*r) for r in zip(xt["mean"], xt["ci95"], xt["n_seeds"])],
        "Δ vs none (points)": ["–" if r == "baseline" else _pm(d, c, n, sign=True)
                               for r, d, c, n in zip(xt["role"], xt["delta"], xt["delta_ci95"], xt["n_paired"])]})
    return [("h", 2, "XTREME score vs no intermediate training"),
            ("p", "XTREME score of one seed: the mean over the target tasks present of each task's mean over its "
                  "languages (English included, as in XTREME) of the headline score (accuracy for xnli, pawsx and "
                  "tatoeba; F1 for udpos, panx and bucc2018; (EM + F1) / 2 for xquad, mlqa and tydiqa). Shown: the "
                  "mean over seeds ± the half-width of its 95% t-interval. Δ vs none: the difference of the seed "
                  "means ± the 95% t-interval of the per-seed differences (seeds paired by value)."),
            ("p", f"Winners: per intermediate task the sweep's best (trial, milestone) by {select} on the dev "
                  "probes (role best), the best at each milestone step (role duration), and the 'none' baseline."),
            ("table", shown)]


def _task_section(td: pd.DataFrame) -> list[tuple]:
    base = td[td["role"] == "baseline"].assign(cell=lambda d: [_pm(*r) for r in zip(d["mean"], d["ci95"], d["n_seeds"])])
    rest = td[td["role"] != "baseline"].assign(
        cell=lambda d: [_pm(*r, sign=True) for r in zip(d["delta"], d["delta_ci95"], d["n_paired"])])
    cells = pd.concat([base, rest])
    wide = cells.pivot_table(index="winner", columns="target_task", values="cell", aggfunc="first")
    wide = wide.reindex(cells["winner"].unique()).fillna("–").reset_index()
    return [("h", 2, "Per-task deltas"),
            ("p", "Each cell: the winner's language mean of the task minus the baseline's (points), mean over seeds "
                  "± the 95% t-interval of the per-seed differences; the first row is the baseline's own score (%). "
                  "Retrieval targets (bucc2018, tatoeba) score the encoder without fine-tuning, so they do not vary "
                  "with the seed: their intervals are 0."),
            ("table", wide)]


def _sentence(task: str, d: pd.DataFrame, base: pd.Series) -> str:
    """How the low-resource mean and the worst language move from the shortest to the longest duration."""
    ends = d.iloc[[0, -1]] if len(d) > 1 else d

    def path(col: str, sign: bool = False, lang: bool = False) -> str:
        return " → ".join(_num(r[col], sign) + (f" ({r['worst_lang']})" if lang else "") for _, r in ends.iterrows())

    top = d.loc[d["low_resource_mean"].fillna(-math.inf).idxmax()]
    return (f"{task} ({' → '.join(map(str, ends['step']))} intermediate steps): low-resource mean "
            f"{path('low_resource_mean')} (Δ vs none {path('delta_low_resource_mean', True)}; highest "
            f"{_num(top['low_resource_mean'])} at {top['step']} steps), worst language {path('worst', lang=True)} "
            f"(Δ {path('delta_worst', True)}); none: {_num(base['low_resource_mean'])} and "
            f"{_num(base['worst'])} ({base['worst_lang']}).")


def _duration_section(dt: pd.DataFrame, low: list[str], plot: str, n_seeds: int) -> list[tuple]:
    base = dt[dt["role"] == "baseline"].iloc[0]
    rest = dt[dt["role"] != "baseline"]
    shown = pd.DataFrame({"intermediate task": dt["intermediate_task"], "steps": dt["step"], "seeds": dt["n_seeds"]})
    for s, name in zip(SUMMARIES, ("mean", "low-resource mean", "worst language")):
        shown[f"{name} (± sd)"] = [_num(m) + ("" if not np.isfinite(sd) else f" ± {sd:.2f}")
                                   for m, sd in zip(dt[s], dt[f"{s}_sd"])]
        shown[f"Δ {name}"] = ["–" if r == "baseline" else _num(v, True) for r, v in zip(dt["role"], dt[f"delta_{s}"])]
    shown["worst (most often)"] = dt["worst_lang"]
    return [("h", 2, "The answer in numbers: intermediate-training duration vs robustness"),
            ("p", "Over the non-English languages, as in the sweep: mean = mean of the task means; low-resource "
                  f"mean = the same over the low-resource languages ({', '.join(low) or 'none'}); worst = the "
                  "language with the lowest score averaged over the tasks. Per seed, then mean (± sd) over seeds; "
                  "Δ in points vs the 'none' baseline (step 0). Durations use the best trial at each step."),
            ("ul", [_sentence(t, d.sort_values("step"), base) for t, d in rest.groupby("intermediate_task")]),
            ("table", shown),
            ("img", plot, f"Score vs intermediate training steps (lines: mean over seeds; bands: min–max over "
                          f"{n_seeds} seeds; dashed: none baseline, grey band its min–max).")]


def _language_section(ld: pd.DataFrame, tiers: pd.DataFrame, best: list[str], plots: dict[str, str]) -> list[tuple]:
    tiers = tiers[tiers["winner"].isin(best)]
    tiers = tiers.assign(cell=[f"{_num(d, True)} ({n})" for d, n in zip(tiers["delta"], tiers["n_langs"])])
    blocks = [("h", 2, "Per-language robustness"),
              ("p", "Δ vs none per language (points, mean over seeds), grouped by resource tier (Joshi class: high "
                    "4-5, mid 3, low 0-2). Tier cell: mean over the tier's languages of each language's Δ averaged "
                    "over tasks (number of languages)."),
              ("table", tiers.pivot_table(index="winner", columns="resource_tier", values="cell", aggfunc="first")
                             .reindex(index=best).fillna("–").reset_index())]
    for w in best:
        d = ld[ld["winner"] == w]
        wide = d.pivot_table(index=["resource_tier", "lang"], columns="target_task", values="delta")
        wide["mean over tasks"] = wide.mean(axis=1)
        wide = wide.reset_index()
        blocks += [("h", 3, f"{w}: Δ vs none per language"),
                   ("img", plots[w], f"{w} − none per target task and language ({DELTA_LABEL}; grey: not evaluated)."),
                   ("table", wide.rename(columns={"resource_tier": "tier"}).map(
                       lambda v: _num(v, True) if isinstance(v, float) else v))]
    return blocks


def _git_commit() -> str:
    """HEAD of the checkout this module runs from, marked when tracked files have uncommitted changes."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[1])]
    try:
        sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "-uno"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + (" (with uncommitted changes)" if dirty.stdout.strip() else "")) if sha else "unknown"


def provenance_table(exp: dict, head: pd.DataFrame, split: str) -> pd.DataFrame:
    """Key / value rows: experiment, digest, commit, date, data source, split, seeds and package versions."""
    installed = {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}
    rows = {"experiment": exp.get("name", "?"), "config digest": exp.get("digest", "?"), "git commit": _git_commit(),
            "date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "data source": ", ".join(sorted(head["source"].unique())), "split": split,
            "target fine-tune seeds": ", ".join(map(str, sorted(head["seed"].unique()))),
            "experiment seed": str(exp.get("config", {}).get("seed", "?")),
            "selection rule": exp.get("config", {}).get("evaluation", {}).get("select", "?"),
            **{f"package {p}": installed.get(p, "not installed") for p in PACKAGES}}
    return pd.DataFrame({"key": list(rows), "value": list(rows.values())})


def build_tables(exp_dir: Path, split: str = "test") -> dict[str, pd.DataFrame]:
    """Every table of the report, by name (the Parquet file stems); 'headline' is the input, not written."""
    exp_dir = Path(exp_dir)
    exp = json.loads((exp_dir / EXPERIMENT_JSON).read_text()) if (exp_dir / EXPERIMENT_JSON).exists() else {}
    results = pd.read_parquet(exp_dir / RESULTS) if (exp_dir / RESULTS).exists() else None
    head = load_headline(exp_dir, split)
    winners = winners_table(head, results)
    per_seed, xt = xtreme_tables(head, winners)
    robust = robustness_per_seed(head, winners)
    langs = language_delta_table(head, winners)
    return {"headline": head, "winners": winners, "xtreme_per_seed": per_seed, "xtreme_scores": xt,
            "task_deltas": task_delta_table(head, winners), "robustness_per_seed": robust,
            "duration": duration_table(robust, winners), "language_deltas": langs,
            "tier_deltas": tier_delta_table(langs), "provenance": provenance_table(exp, head, split)}


def write_report(exp_dir: Path, out_dir: Path | None = None, *, split: str = "test") -> Path:
    """Write the report of `exp_dir` to `out_dir` (default EXP/report/); returns the path of report.md."""
    exp_dir = Path(exp_dir)
    out = Path(out_dir) if out_dir is not None else exp_dir / "report"
    (out / "tables").mkdir(parents=True, exist_ok=True)
    t = build_tables(exp_dir, split)
    prov = dict(zip(t["provenance"]["key"], t["provenance"]["value"]))
    for name, df in t.items():
        if name != "headline":
            df.to_parquet(out / "tables" / f"{name}.parquet", index=False)
    head, winners, robust = t["headline"], t["winners"], t["robustness_per_seed"]
    synthetic, seeds = "offline world" in set(head["source"]), sorted(head["seed"].unique())
    tag = f"{split} split" + (", offline world: synthetic scores" if synthetic else "")
    plot_duration_curves(robust[robust["winner"].isin(duration_winners(winners)["winner"])],
                         robust[robust["role"] == "baseline"], out / "plots" / "duration_curves",
                         title=f"Zero-shot transfer vs intermediate-training duration ({tag})")
    best = winners[winners["role"] == "best"]
    heatmaps = {w: plot_delta_heatmap(t["language_deltas"].query("winner == @w"),
                                      out / "plots" / f"heatmap_{re.sub(r'[^A-Za-z0-9]+', '_', w)}",
                                      title=f"{w} ({s} steps) − none\nmean over {len(seeds)} seeds ({tag})")[0]
                for w, s in zip(best["winner"], best["step"])}
    low = sorted(head.loc[head["low_resource"].astype(bool) & (head["lang"] != "en"), "lang"].unique())
    title = f"xstilts report: {prov['experiment']}"
    blocks = [("h", 1, title)] + [("note", "Data source: offline world. These scores are synthetic: they test the "
                                           "machinery and are not benchmark numbers.")] * synthetic
    blocks += [("p", f"Split: {split}. Seeds: {', '.join(map(str, seeds))}. Config digest: "
                     f"{prov['config digest']}. Provenance at the end.")]
    blocks += _xtreme_section(t["xtreme_scores"], prov["selection rule"])
    blocks += _task_section(t["task_deltas"])
    blocks += _duration_section(t["duration"], low, "plots/duration_curves.png", len(seeds))
    blocks += _language_section(t["language_deltas"], t["tier_deltas"], best["winner"].tolist(),
                                {w: p.relative_to(out).as_posix() for w, p in heatmaps.items()})
    blocks += [("h", 2, "Provenance"), ("table", t["provenance"])]
    (out / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(render_html(blocks, out, title), encoding="utf-8")
    return out / "report.md"
