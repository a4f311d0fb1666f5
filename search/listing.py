"""Listings for the CLI: the task registry (`xstilts tasks`) and what a sweep would download (--dry-run)."""

from __future__ import annotations

from dataclasses import asdict

from rich.table import Table

from xstilts.search.config import Experiment
from xstilts.search.splits import sweep_splits
from xstilts.tasks.languages import JOSHI_CLASS, resource_tier
from xstilts.tasks.loading import DataSource, has_files, location
from xstilts.tasks.registry import TaskSpec


def local_holdings(spec: TaskSpec, source: DataSource) -> dict[str, list[str]]:
    """Per split of the task, the languages whose files the local source holds (training: English)."""
    held = {}
    for split in spec.sources:
        langs = [spec.train_lang] if split == "train" else list(spec.eval_langs)
        held[split] = [lang for lang in langs if has_files(source, spec, split, lang)]
    return held


def task_records(registry: dict[str, TaskSpec], source: DataSource | None = None) -> list[dict]:
    """One JSON-able record per task: name, role, type, source, languages with resource groups, metric; with a
    local `source`, its label (`data`) and the languages it holds of each split (`held`)."""
    records = []
    for spec in registry.values():
        record = {
            "name": spec.name,
            "role": spec.role,
            "type": spec.kind,
            "metric": spec.metric,
            "languages": list(spec.eval_langs),
            "resource_groups": {
                lang: {"tier": resource_tier(lang), "joshi_class": JOSHI_CLASS[lang]} for lang in spec.eval_langs
            },
            "source": {split: asdict(loc) for split, loc in spec.sources.items()},
            "labels": list(spec.labels),
            "members": list(spec.members),
        }
        if source is not None and source.kind == "local":
            record |= {"data": source.label, "held": local_holdings(spec, source)}
        records.append(record)
    return records


def task_table(records: list[dict]) -> Table:
    table = Table(title="xstilts tasks")
    for col in ("name", "role", "type", "source", "languages", "metric"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "role", "type", "metric"))
    for r in records:
        src = r["source"].get("train") or r["source"].get("dev") or r["source"].get("test")
        where = (
            "—"
            if src is None
            else ("local files: " if src["local_only"] else "") + f"{src['dataset_id']} {src['config'] or ''}".strip()
        )
        if r["members"]:
            where = "+".join(r["members"])
        if "held" in r:
            held = ", ".join(f"{split} {len(langs)}" for split, langs in r["held"].items() if langs)
            where = f"{r['data']}: " + (f"{held} language(s)" if held else "no files")
        langs = r["languages"]
        shown = " ".join(langs) if len(langs) <= 12 else f"{len(langs)}: " + " ".join(langs)
        table.add_row(r["name"], r["role"], r["type"], where, shown or "—", r["metric"])
    return table


def planned_downloads(exp: Experiment, registry: dict[str, TaskSpec]) -> list[str]:
    """The hub data sets (id, config, split) and model a real sweep of `exp` would fetch: the splits the
    sweep reads (search/splits.py), each at its declared location."""
    lines: list[str] = [f"model {exp.model}"] if exp.model not in ("offline",) else []
    for spec, split, lang in sweep_splits(exp, registry):
        loc, config = location(spec, split, lang)
        where = "local files (not on the hub)" if loc.local_only else "hub"
        line = f"{where}: {loc.dataset_id}" + (f" {config}" if config else "") + f" split={loc.split}"
        if line not in lines:
            lines.append(line)
    return lines
