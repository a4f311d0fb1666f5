"""Which short QA fine-tune learns on a real encoder: the pretrained encoder (`none`) fine-tuned on English
SQuAD for a few dozen steps at several learning rates, scored on XQuAD's English dev rows against the
empty-answer baseline (every question answered with the empty string: F1 and EM are 0 on answerable rows).

    .venv/bin/python benchmarks/qa_recipe.py KIT [--steps 64] [--lrs 3e-5 1e-4 3e-4] [--rows 48] [--max-len 256]

KIT holds `data/` and `encoder/` (the real bench kit). Prints one JSON line: per lr, the English XQuAD F1,
EM and headline ((EM + F1) / 2) and the fine-tune's seconds. One thread, float32, seed 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kit", type=Path)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 1e-4, 3e-4])
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from xstilts.models.heads import from_pretrained, quiet_transformers, transfer_encoder
    from xstilts.models.scoring import evaluate_split
    from xstilts.models.setup import features_for, tokenizer_for
    from xstilts.models.transfer import TargetData, TargetFineTune, fine_tune_target
    from xstilts.tasks.loading import DataSource
    from xstilts.tasks.registry import Recipe, build_registry

    quiet_transformers()
    kit = args.kit.resolve()
    encoder = str(kit / "encoder")
    source = DataSource("local", kit / "data", Path(".cache") / "qa-recipe")
    spec = replace(build_registry()["xquad"], max_len=args.max_len, max_eval_rows=args.rows)
    train = features_for(encoder, source, spec, "train", "en")
    dev = {"en": features_for(encoder, source, spec, "dev", "en")}
    pad_id = tokenizer_for(encoder).pad_token_id
    target = TargetData(spec, train, dev, pad_id)
    base = from_pretrained("retrieval", encoder)
    results = {}
    for lr in args.lrs:
        recipe = Recipe(steps=args.steps, lr=lr, batch_size=args.batch_size, grad_accum=1, eval_every=0)
        started = time.perf_counter()
        model = fine_tune_target(transfer_encoder(base, spec, seed=0), target, TargetFineTune(recipe), seed=0)
        took = time.perf_counter() - started
        scores = evaluate_split(model, spec, dev["en"], None, "en", pad_id, device="cpu")
        results[f"{lr:g}"] = {k: round(float(v), 2) for k, v in scores.items()} | {"fine_tune_s": round(took, 1)}
        print(json.dumps({"lr": lr, **results[f"{lr:g}"]}), file=sys.stderr, flush=True)  # each as it ends
    print(
        json.dumps(
            {
                "bench": "qa_recipe",
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "steps": args.steps,
                "batch_size": args.batch_size,
                "max_len": args.max_len,
                "rows": args.rows,
                "empty_answer_baseline": {"f1": 0.0, "exact_match": 0.0},
                "by_lr": results,
            }
        )
    )


if __name__ == "__main__":
    main()
