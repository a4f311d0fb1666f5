"""Packing trials on one GPU: samples/s of one trial with the whole GPU against four trials sharing it (as
`resources.gpu: 0.25` lets Ray place them), on the XLM-R base architecture with random weights, through the
project's training loop (bf16 autocast, fused AdamW, prefetched pinned batches); and the model-FLOPs
utilisation of the bf16 step. Prints one JSON line; without a visible CUDA device it says so and exits 0.

    .venv/bin/python benchmarks/gpu_packing.py [--steps 60] [--batch-size 32] [--seq-len 128] [--trials 4]
                                               [--peak-tflops 989]

MFU = achieved model FLOPs / peak, with the model FLOPs of a training step per sample taken as
6 x (non-embedding parameters) x tokens + 12 x layers x hidden x tokens^2 (the attention scores), after
Chowdhery et al. (2022), appendix B. The peak defaults by device name (H100/H200 SXM: 989 dense bf16
TFLOPS, A100: 312, L4: 121) or comes from --peak-tflops.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0}


def xlmr_base(num_labels: int = 3):
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(0)
    return XLMRobertaForSequenceClassification(XLMRobertaConfig(vocab_size=250_002, num_labels=num_labels))


def flops_per_sample(model, seq_len: int) -> float:
    cfg = model.config
    embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    dense = sum(p.numel() for p in model.parameters()) - embedding
    return 6.0 * dense * seq_len + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * seq_len**2


def worker(args: argparse.Namespace) -> None:
    """One trial: warm up, wait at the barrier (all trials start together), time args.steps steps."""
    from xstilts.models.predict import classification_collate
    from xstilts.models.train import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    n = args.batch_size * 8
    data = {
        "input_ids": torch.randint(5, 250_000, (n, args.seq_len), generator=g).tolist(),
        "labels": torch.randint(0, 3, (n,), generator=g).tolist(),
    }
    model = xlmr_base()
    collate = classification_collate(1)
    train(model, data, collate, TrainConfig(max_steps=5, batch_size=args.batch_size, device="cuda"))  # warm-up
    barrier = Path(args.barrier)
    (barrier / f"ready-{args.index}").touch()
    while len(list(barrier.glob("ready-*"))) < args.trials:
        time.sleep(0.005)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    train(model, data, collate, TrainConfig(max_steps=args.steps, batch_size=args.batch_size, device="cuda"))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    print(json.dumps({"samples_per_s": args.steps * args.batch_size / seconds, "seconds": seconds}))


def run(trials: int, args: argparse.Namespace) -> list[dict]:
    barrier = tempfile.mkdtemp(prefix="xstilts-gpu-packing-")
    common = ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", *common, "--barrier", barrier, "--trials", str(trials)]
            + ["--index", str(i)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(trials)
    ]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a packing worker failed ({p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--peak-tflops", type=float)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--barrier", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_packing", "gpu": None, "note": "no visible CUDA device: nothing measured"}))
        return
    if args.worker:
        worker(args)
        return
    trials = args.trials
    name = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    alone = run(1, args)[0]["samples_per_s"]
    packed = sum(r["samples_per_s"] for r in run(trials, args))
    flops = flops_per_sample(xlmr_base(), args.seq_len)
    print(
        json.dumps(
            {
                "benchmark": "gpu_packing",
                "gpu": name,
                "torch": torch.__version__,
                "model": "xlm-roberta-base architecture, random weights",
                "batch_size": args.batch_size,
                "seq_len": args.seq_len,
                "samples_per_s_1x1.0": round(alone, 1),
                f"samples_per_s_{trials}x{1 / trials:.2f}": round(packed, 1),
                "ratio_packed_vs_alone": round(packed / alone, 3),
                "mfu_bf16_alone": round(alone * flops / (peak * 1e12), 3) if peak else None,
                "peak_tflops": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
