"""Padding share (pad tokens / all tokens, each batch padded to its longest row) of the offline world's
span-QA and tagging training sets, with plain seeded batches and with length-grouped ones
(`intermediate.group_by_length`); prints one JSON line with the ratio grouped / plain per task.

    .venv/bin/python benchmarks/padding.py [--batch-size 16] [--steps 300]

Needs the offline world and encoder (`xstilts prepare experiments.yaml`; built here when missing).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from xstilts.models.sampling import padding_share, row_lengths, sampler
from xstilts.models.setup import features_for
from xstilts.search.config import load_context
from xstilts.search.plan import resolve_encoder, resolve_source

REPO = Path(__file__).resolve().parents[1]
TASKS = ("squad_v2", "xquad", "panx", "udpos")  # span QA (SQuAD 2.0, SQuAD 1.1 windows) and tagging


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    ctx = load_context(REPO / "experiments.yaml", "offline")
    exp, registry = ctx.exp, ctx.registry
    source = resolve_source(ctx, prepare=True)
    encoder = resolve_encoder(ctx, source, prepare=True)
    out: dict = {
        "benchmark": "padding",
        "machine": platform.machine(),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "seed": exp.seed,
    }
    for task in TASKS:
        data = features_for(encoder, source, registry[task], "train", "en")
        lengths = row_lengths(data)
        assert lengths is not None, f"{task}: features without input_ids"
        share = {}
        for grouped in (False, True):
            rows = sampler(data, args.batch_size, exp.seed, grouped)
            share[grouped] = padding_share(lengths, [rows(k) for k in range(args.steps)])
        out[task] = {
            "rows": len(lengths),
            "pad_share_plain": round(share[False], 4),
            "pad_share_grouped": round(share[True], 4),
            "ratio_grouped_vs_plain": round(share[True] / share[False], 3) if share[False] else None,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
