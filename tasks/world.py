"""Writes the offline world: a seeded synthetic multilingual world in the exact schemas of the real data sets
(each asked task's files at the paths `xstilts.tasks.loading` reads), unlabelled text in every language (less
where resources are scarce, so transfer is real but imperfect), and a manifest of checksums."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path, PurePosixPath

from xstilts.core.files import atomic_path, build_lock
from xstilts.tasks import world_targets, world_tasks
from xstilts.tasks.languages import JOSHI_CLASS, SOV
from xstilts.tasks.loading import WORLD_MANIFEST
from xstilts.tasks.registry import TaskSpec
from xstilts.tasks.reporting import report
from xstilts.tasks.world_grammar import (
    AGENTS,
    build_lexicon,
    fact_frame,
    parts,
    render,
    sample_frame,
    sample_rich_frame,
    world_facts,
)
from xstilts.tasks.world_spec import Files, World, WorldSpec

GENERATORS: dict[str, Callable[[World], Files]] = {  # task -> its files (relative path -> rows or lines)
    "anli": world_tasks.anli,
    "commonsense_qa": world_tasks.commonsense_qa,
    "cosmos_qa": world_tasks.cosmos_qa,
    "hellaswag": world_tasks.hellaswag,
    "mnli": world_tasks.mnli,
    "qqp": world_tasks.qqp,
    "squad_v2": world_tasks.squad_v2,
    "sst2": world_tasks.sst2,
    "ccg": world_tasks.ccg,
    "xnli": world_targets.xnli,
    "pawsx": world_targets.pawsx,
    "udpos": world_targets.udpos,
    "panx": world_targets.panx,
    "xquad": world_targets.xquad,
    "mlqa": world_targets.mlqa,
    "tydiqa": world_targets.tydiqa,
    "bucc2018": world_targets.bucc2018,
    "tatoeba": world_targets.tatoeba,
}


def _text_sentence(rng: random.Random, lexicon: dict[str, str], lang: str, switch: bool) -> str:
    frame = sample_frame(rng)
    if rng.random() < 0.2:
        frame["neg"] = rng.choice(("not", "never"))
    if rng.random() < 0.15:
        frame["hedge"] = rng.choice(("maybe", "perhaps", "probably"))
    words = [c for c, _ in parts(frame, lang in SOV)]
    if switch:  # code-switching: some words written the English way, as in real web text
        return " ".join(c if rng.random() < 0.4 else lexicon.get(c, c) for c in words)
    return " ".join(lexicon.get(c, c) for c in words)


def _extra_sentence(rng: random.Random, lexicon: dict[str, str], lang: str, facts: dict) -> str:
    """Text with what the newer tasks use: names, organisations, towns, questions, opinions, world facts."""
    r = rng.random()
    if r < 0.15:
        return render(fact_frame(rng.choice(AGENTS), facts), lexicon, lang)
    frame = sample_rich_frame(rng, entities=True, animate=True)
    if r < 0.35:
        frame.update(wh=rng.choice(("subj", "obj", "place") if frame["place"] else ("subj", "obj")), end="?")
    elif r < 0.5 and frame["subj"] in AGENTS:
        frame["subj_adj"] = rng.choice(("good", "wonderful", "bad", "terrible"))
    elif r < 0.6:
        frame["hedge"] = "then"
    frame["front"] = frame["place"] is not None and rng.random() < 0.2
    return render(frame, lexicon, lang)


def _text_files(world: World) -> Files:
    """Unlabelled text per language at text/<lang>.txt (tokenizer and MLM); the extra quarter covers the newer
    tasks' words."""
    files: Files = {}
    seed = world.spec.seed
    facts = world_facts(seed)
    for lang, lex in world.lexicons.items():
        n = int(world.spec.text_class5 * 2.0 ** (JOSHI_CLASS[lang] - 5))
        trng = random.Random(f"{seed}-text-{lang}")
        n_switch = 0 if lang == "en" else int(n * world.spec.code_switch_fraction)
        lines = [_text_sentence(trng, lex, lang, i < n_switch) for i in range(n)]
        xrng = random.Random(f"{seed}-text-extra-{lang}")
        files[PurePosixPath("text") / f"{lang}.txt"] = lines + [
            _extra_sentence(xrng, lex, lang, facts) for _ in range(n // 4)
        ]
    return files


def _world_files(spec: WorldSpec, registry: Mapping[str, TaskSpec]) -> Files:
    """Return relative path -> rows (JSON lines) or lines (text) for every file of the world."""
    lexicons = {lang: build_lexicon(lang, spec.seed) for lang in sorted({"en", *spec.languages})}
    world = World(spec, lexicons, registry)
    files: Files = {}
    for i, task in enumerate(spec.tasks):
        report("offline world", i, len(spec.tasks) + 1, task)
        files.update(GENERATORS[task](world))
    report("offline world", len(spec.tasks), len(spec.tasks) + 1, "unlabelled text")
    files.update(_text_files(world))
    report("offline world", len(spec.tasks) + 1, len(spec.tasks) + 1, "written")
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_world(root: Path) -> dict:
    """Return the manifest of a written world after checking every file's checksum."""
    manifest_path = root / WORLD_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: no offline world here (run `xstilts prepare`)")
    manifest = json.loads(manifest_path.read_text())
    for rel, digest in manifest["files"].items():
        path = root / rel
        if not path.is_file() or _sha256(path) != digest:
            raise ValueError(f"{path}: missing or checksum mismatch with {manifest_path}")
    return manifest


def write_world(spec: WorldSpec, cache_dir: Path, registry: Mapping[str, TaskSpec]) -> Path:
    """Write the world once under cache_dir/world-<digest>/ (atomically) and return its root; `registry` names
    each split's files and each target task's languages."""
    root = cache_dir / f"world-{spec.digest()}"
    if (root / WORLD_MANIFEST).is_file():
        verify_world(root)
        return root
    with build_lock(root):  # processes preparing one cache at once: one writes, the others wait for it
        if (root / WORLD_MANIFEST).is_file():  # written while this one waited
            verify_world(root)
            return root
        with atomic_path(root, directory=True) as tmp:  # a writer that holds no lock (older code): first one stands
            sums: dict[str, str] = {}
            for rel, rows in _world_files(spec, registry).items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                sums[rel.as_posix()] = _sha256(path)
            manifest = {"spec": asdict(spec), "digest": spec.digest(), "files": sums}
            (tmp / WORLD_MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return root
