"""The data path at real sizes: featurising MNLI-shaped training sets into per-process Python lists (the old
path, `featurize(load_split(...))`) against the node's Arrow feature cache (`load_features`), each in fresh
processes; prints one JSON line with the ratios new / old.

    .venv/bin/python benchmarks/data_path.py [--sizes 10000 50000 200000 400000] [--concurrent 4]
                                              [--concurrent-rows 100000]

For each size (rows generated on the fly, about 80 tokens each, written as the MNLI layout of a local
source): featurisation time; resident memory (RSS and PSS from /proc/self/smaps_rollup) a trial process
gains once its features are ready and every row has been read (an epoch touches every page), in bytes per
token (measured from after the imports both paths make: torch, transformers, datasets); a trial's
start-up (tokenizer loaded to features ready) with a warm cache; the driver's check
(featurise, drop, measure what stays). Then `--concurrent` trial processes at once on `--concurrent-rows`
rows: their memory summed and their start-up against one alone. Targets: <= 8 bytes per token resident per
trial process; start-up that does not grow with the trials on the node.
Needs the offline encoder (`xstilts prepare experiments.yaml`; built here when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = [f"w{i}" for i in range(400)]


def smaps() -> dict[str, int]:
    """Rss and Pss of this process in bytes."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower()] = int(rest.split()[0]) * 1024
    return out


def write_rows(root: Path, n: int, seed: int = 0) -> None:
    """n MNLI-shaped rows (premise 15-40 words, hypothesis 5-15) in the local layout of mnli's train split."""
    from xstilts.tasks.loading import relative_files
    from xstilts.tasks.registry import build_registry

    (rel,) = relative_files(build_registry()["mnli"], "train", "en")
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            premise = " ".join(rng.choices(WORDS, k=rng.randrange(15, 40)))
            hypothesis = " ".join(rng.choices(WORDS, k=rng.randrange(5, 15)))
            f.write(json.dumps({"premise": premise, "hypothesis": hypothesis, "label": i % 3, "idx": i}) + "\n")


def touch(features) -> int:
    """Read every row's ids and label, as an epoch of collation would; returns the number of tokens."""
    from xstilts.tasks.feature_cache import Column

    ids, labels = features["input_ids"], features["labels"]
    if isinstance(ids, Column):
        total = 0
        for chunk in ids.array.chunks:
            total += len(chunk.values)
            chunk.values.to_numpy().sum()
        for chunk in labels.array.chunks:
            chunk.to_numpy().sum()
        return total
    sum(labels)
    return sum(len(r) for r in ids if sum(r) >= 0)


def worker(args: argparse.Namespace) -> None:
    """One process: old or new path on args.data; prints its figures (waits at the barrier when given)."""
    from xstilts.models.setup import tokenizer_for
    from xstilts.models.train import release_memory
    from xstilts.tasks.feature_cache import load_features
    from xstilts.tasks.features import featurize
    from xstilts.tasks.loading import DataSource, describe, load_split
    from xstilts.tasks.registry import build_registry

    spec = build_registry()["mnli"]
    source = DataSource("local", Path(args.data), Path(args.cache))
    import datasets  # both paths read through datasets: its import (~60 MB, ~0.7 s) is not the data's cost

    datasets.disable_progress_bars()
    tok = tokenizer_for(args.encoder)
    tok("warm up")
    before = smaps()
    t0 = time.perf_counter()
    if args.mode == "old":
        features = featurize(load_split(spec, "train", "en", source), spec, tok, describe(spec, "train", "en", source))
    else:
        features = load_features(spec, "train", "en", source, tok)
    ready = time.perf_counter() - t0
    tokens = touch(features)
    after = smaps()
    out = {"ready_s": ready, "tokens": tokens, **{f"{k}_gain": after[k] - before[k] for k in after}}
    if args.driver:  # the driver's check: drop what it featurised, keep what stays
        del features
        release_memory()
        dropped = smaps()
        out.update({f"{k}_kept": dropped[k] - before[k] for k in dropped})
    if args.barrier:
        barrier = Path(args.barrier)
        (barrier / f"done-{os.getpid()}").write_text(json.dumps(out))
        while len(list(barrier.glob("done-*"))) < args.barrier_n:  # all measured while all are alive
            time.sleep(0.01)
        final = smaps()
        out.update({"rss_all_alive": final["rss"] - before["rss"], "pss_all_alive": final["pss"] - before["pss"]})
    print(json.dumps(out))


def spawn(mode: str, data: Path, cache: Path, encoder: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", mode, "--data", str(data), "--cache", str(cache)]
    return subprocess.Popen([*cmd, "--encoder", encoder, *extra], stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"worker failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def one(mode: str, data: Path, cache: Path, encoder: str, *extra: str) -> dict:
    return result(spawn(mode, data, cache, encoder, *extra))


def concurrent(mode: str, n: int, data: Path, cache: Path, encoder: str, tmp: Path) -> list[dict]:
    barrier = Path(tempfile.mkdtemp(dir=tmp))
    procs = [spawn(mode, data, cache, encoder, "--barrier", str(barrier), "--barrier-n", str(n)) for _ in range(n)]
    return [result(p) for p in procs]


def per_token(r: dict, key: str) -> float:
    return round(r[key] / r["tokens"], 2)


def encoder_path() -> str:
    from xstilts.search.config import load_context
    from xstilts.search.plan import resolve_encoder, resolve_source

    ctx = load_context(REPO / "experiments.yaml", "offline")
    return resolve_encoder(ctx, resolve_source(ctx, prepare=True), prepare=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000, 400_000])
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--concurrent-rows", type=int, default=100_000)  # 4 old-path processes: ~11 GB
    ap.add_argument("--worker", choices=["old", "new"], help=argparse.SUPPRESS)
    for name in ("--data", "--cache", "--encoder", "--barrier"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    ap.add_argument("--barrier-n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.mode = args.worker
        worker(args)
        return
    from xstilts.tasks.loading import DataSource, load_split
    from xstilts.tasks.registry import build_registry

    mnli = build_registry()["mnli"]
    encoder = encoder_path()
    tmp = Path(tempfile.mkdtemp(prefix="xstilts-data-path-"))
    out: dict = {"benchmark": "data_path", "machine": f"{platform.machine()} {os.cpu_count()} cores", "sizes": {}}
    try:
        for n in sorted(set(args.sizes) | {args.concurrent_rows}):
            data, cache = tmp / f"data-{n}", tmp / f"cache-{n}"
            write_rows(data, n)
            load_split(mnli, "train", "en", DataSource("local", data, cache))  # datasets' json -> Arrow cache
            if n not in args.sizes:
                continue
            old = one("old", data, cache, encoder, "--driver")
            cold = one("new", data, cache, encoder, "--driver")  # builds the cache: the driver's check
            warm = one("new", data, cache, encoder)  # a trial on the same node
            out["sizes"][n] = {
                "tokens": warm["tokens"],
                "featurise_s_old": round(old["ready_s"], 2),
                "featurise_s_new": round(cold["ready_s"], 2),
                "bytes_per_token_rss_old": per_token(old, "rss_gain"),
                "bytes_per_token_rss_new": per_token(warm, "rss_gain"),
                "bytes_per_token_pss_new": per_token(warm, "pss_gain"),
                "ratio_rss_new_vs_old": round(warm["rss_gain"] / old["rss_gain"], 4),
                "trial_startup_s_old": round(old["ready_s"], 2),
                "trial_startup_s_new": round(warm["ready_s"], 3),
                "ratio_startup_new_vs_old": round(warm["ready_s"] / old["ready_s"], 4),
                "driver_kept_mib_old": round(old["rss_kept"] / 2**20, 1),
                "driver_kept_mib_new": round(cold["rss_kept"] / 2**20, 1),
            }
            print(json.dumps({n: out["sizes"][n]}), file=sys.stderr, flush=True)
        data, cache, k = tmp / f"data-{args.concurrent_rows}", tmp / f"cache-{args.concurrent_rows}", args.concurrent
        one("new", data, cache, encoder, "--driver")  # the driver's check builds the cache (if no size did)
        alone = one("new", data, cache, encoder)
        together = concurrent("new", k, data, cache, encoder, tmp)
        old_together = concurrent("old", k, data, cache, encoder, tmp)
        startup = max(r["ready_s"] for r in together)
        out["concurrent"] = {
            "trials": k,
            "rows": args.concurrent_rows,
            "rss_sum_gib_old": round(sum(r["rss_all_alive"] for r in old_together) / 2**30, 3),
            "pss_sum_gib_old": round(sum(r["pss_all_alive"] for r in old_together) / 2**30, 3),
            "rss_sum_gib_new": round(sum(r["rss_all_alive"] for r in together) / 2**30, 3),
            "pss_sum_gib_new": round(sum(r["pss_all_alive"] for r in together) / 2**30, 3),
            "startup_s_alone_new": round(alone["ready_s"], 3),
            "startup_s_slowest_of_k_new": round(startup, 3),
            "ratio_startup_k_vs_alone_new": round(startup / alone["ready_s"], 3),
            "startup_s_slowest_of_k_old": round(max(r["ready_s"] for r in old_together), 2),
        }
        out["targets"] = {"bytes_per_token_rss_new": 8, "ratio_startup_k_vs_alone_new": "about 1 (no growth)"}
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
