"""Training-step throughput: the project's loop (`models.train.train`) against a bare PyTorch loop on the same
model, batches, data and steps, run alternately several times; prints one JSON line with the ratio.

    .venv/bin/python benchmarks/step_throughput.py [--steps 150] [--repeats 3] [--batch-size 16] [--compile]

The bare loop does only what a training step needs (the same collate on the same indices, forward,
backward, gradient clipping, AdamW, the LR schedule); the ratio is the share of the bare loop's speed
that the project's loop keeps (target >= 0.97).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from dataclasses import replace

import torch

from xstilts.models.predict import classification_collate
from xstilts.models.sampling import batch_indices
from xstilts.models.train import TrainConfig, lr_lambda, resolve_device, train

PAD = 1


def model(seed: int = 0):
    """A small XLM-R classifier (the offline encoder's size)."""
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(seed)
    cfg = XLMRobertaConfig(
        vocab_size=2000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=130,
        pad_token_id=PAD,
        type_vocab_size=1,
        num_labels=3,
    )
    return XLMRobertaForSequenceClassification(cfg)


def data(n: int = 2000, seed: int = 0) -> dict[str, list]:
    rng = random.Random(seed)
    return {
        "input_ids": [[0] + [rng.randrange(5, 2000) for _ in range(rng.randrange(10, 60))] + [2] for _ in range(n)],
        "labels": [rng.randrange(3) for _ in range(n)],
    }


def bare_loop(m, rows: dict[str, list], cfg: TrainConfig) -> float:
    """Seconds for cfg.max_steps steps of a plain PyTorch loop."""
    device = resolve_device(cfg.device)
    m.to(device).train()
    decay = [p for p in m.parameters() if p.ndim >= 2]
    no_decay = [p for p in m.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(cfg.warmup_ratio * cfg.max_steps), cfg.max_steps))
    collate, gen, n = classification_collate(PAD), torch.Generator(), len(rows["labels"])
    t0 = time.perf_counter()
    for step in range(cfg.max_steps):
        batch = collate(rows, batch_indices(n, cfg.batch_size, cfg.seed, step), gen)
        loss = m(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def project_loop(m, rows: dict[str, list], cfg: TrainConfig) -> float:
    t0 = time.perf_counter()
    train(m, rows, classification_collate(PAD), cfg)
    if resolve_device(cfg.device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="also time the loop with TrainConfig(compile=True)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = data()
    cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, lr=1e-3, seed=0, device=args.device)
    bare_loop(model(), rows, TrainConfig(max_steps=5, batch_size=args.batch_size, device=args.device))  # warm-up
    bare, ours = [], []
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both
        bare.append(bare_loop(model(), rows, cfg))
        ours.append(project_loop(model(), rows, cfg))
    b, o = statistics.median(bare), statistics.median(ours)
    compiled: dict = {}
    if args.compile:  # the first run compiles (dynamo + inductor); later runs reuse its compiled code
        first = project_loop(model(), rows, replace(cfg, compile=True))
        again = statistics.median(project_loop(model(), rows, replace(cfg, compile=True)) for _ in range(args.repeats))
        compiled = {
            "compiled_first_run_s": round(first, 2),
            "compiled_steps_per_s": round(args.steps / again, 2),
            "ratio_compiled_vs_eager": round(o / again, 3),
        }
    print(
        json.dumps(
            {
                "benchmark": "step_throughput",
                "machine": f"{platform.machine()} {torch.get_num_threads()} thread(s)",
                "device": str(resolve_device(args.device)),
                "steps": args.steps,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "bare_steps_per_s": round(args.steps / b, 2),
                "project_steps_per_s": round(args.steps / o, 2),
                "ratio_vs_bare": round(b / o, 3),
                **compiled,
                "target": 0.97,
                "seed": 0,
            }
        )
    )


if __name__ == "__main__":
    main()
