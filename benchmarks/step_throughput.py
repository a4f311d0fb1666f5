"""Training-step throughput: the project's loop (`models.train.train`) against a bare PyTorch loop on the same
model, batches, data and steps, run alternately several times; prints one JSON line with the ratio.

    .venv/bin/python benchmarks/step_throughput.py [--steps 150] [--repeats 3] [--batch-size 16] [--compile]
    .venv/bin/python benchmarks/step_throughput.py --encoder <kit>/encoder --data <kit>/data [--max-len 128]
    .venv/bin/python benchmarks/step_throughput.py --config-json <kit>/encoder/config.json [--device cuda]

The bare loop does only what a training step needs (the same collate on the same indices, forward,
backward, gradient clipping, the LR schedule) with the project's optimizer built the same way (AdamW with
`fused=True`, falling back to the plain AdamW where the build lacks the fused kernel; weight decay on
parameters of 2+ dimensions only; the warm-up run checks that both loops' optimizers agree) and the same
autocast (`TrainConfig.precision`, `--precision`: auto is bf16 on CUDA only, bf16 on CPU too); the ratio is
the share of the bare loop's speed that the project's
loop keeps (target >= 0.97). `ratio_vs_bare` is on wall time (medians over the repeats; `bare_runs_s` and
`project_runs_s` are the single runs); `ratio_vs_bare_cpu_time` is the same on process CPU time, which moves
less when other work shares the machine (on CPU with one thread; on CUDA it is only host time). Seconds per
step are wall time, setup (model load, optimizer construction) excluded.

Models. Without `--encoder` a small XLM-R sequence classifier (2 layers, hidden 64, vocab 2000) on random
ids. `--encoder DIR` loads a real checkpoint for token classification (the bench's probe and evaluation
target): `AutoModelForTokenClassification.from_pretrained(DIR, num_labels=17, dtype=torch.float32)` (float32
whatever the checkpoint's stored dtype; the realbench kit's encoder is saved in float16). `--shape-only`
builds a randomly initialised `XLMRobertaForTokenClassification` from DIR's config.json alone, and
`--config-json PATH` gives that config directly (implies --shape-only): the same shapes and the same time per
step, on a machine that has no weights.

Data. With `--data DIR` (and a tokenizer in the encoder's DIR): the English UD POS training rows (the
registry's `udpos` train split, `<DIR>/google/xtreme/udpos.English/train.jsonl`) featurised as the project
does (`tasks.features.featurize_tagging`: the encoder's tokenizer, is_split_into_words, truncation at
`--max-len`, the label on each word's first piece, -100 elsewhere) and batched with the project's tagging
collate (`models.predict.collate_for`: each batch padded to its longest row). Otherwise random ids with
lengths roughly UD English's (log-normal, cut at --max-len; see `synthetic_tagging_rows`) and labels on ~70%
of the positions. `mean_row_len` and `mean_batch_width` (the padded width of the timed steps' batches) say
what was run.

Embedding update. `embedding_update_s` is one optimizer step over the word-embedding matrix alone, with the
same optimizer settings (the decay group's AdamW, fused where the full optimizer is fused), measured apart from
training: every parameter of a fresh copy of the model is given a dense random gradient (the embedding's
gradient is dense in training too), one untimed step creates the Adam state, then the median of `--opt-reps`
timed steps (CUDA: synchronised). `optimizer_step_s` is the same for the full optimizer (all parameters, both
groups). `embedding_update_share` = embedding_update_s / the project loop's seconds per step (and
`optimizer_step_share` likewise): the share of a training step that the embedding matrix's update costs.
`embedding_update_per_param_loop_s` is the same single-matrix step with neither the fused nor the foreach
kernel (the plain per-parameter loop, what AdamW runs on CPU without fused=True), for comparison.

Memory. `peak_rss_mib` is the process's peak resident memory (`ru_maxrss`) read after the timed loops and
before the optimizer measurement (which holds an extra model copy); it includes the data, the tokenizer and
the model being loaded. On CUDA `cuda_peak_mib` is `torch.cuda.max_memory_allocated` over the timed loops.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from xstilts.models.predict import classification_collate, collate_for
from xstilts.models.sampling import batch_indices
from xstilts.models.train import Collate, TrainConfig, _optimizer, lr_lambda, release_memory, resolve_device, train
from xstilts.tasks.features import featurize_tagging
from xstilts.tasks.loading import local_paths
from xstilts.tasks.registry import build_registry

PAD = 1
TAGGING = build_registry()["udpos"]  # the bench's token-classification target (17 UPOS tags)


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


def encoder_model(encoder: str | None, config_json: str | None, shape_only: bool, seed: int = 0):
    """A token classifier of the bench's target: the checkpoint in `encoder` (float32), or (shape_only) a
    randomly initialised XLM-R of its config.json (or of `config_json`)."""
    from transformers import AutoModelForTokenClassification, XLMRobertaConfig, XLMRobertaForTokenClassification

    torch.manual_seed(seed)  # the head (and, shape-only, every weight) is initialised from this seed
    if config_json is None and not shape_only:
        return AutoModelForTokenClassification.from_pretrained(
            encoder, num_labels=TAGGING.num_labels, dtype=torch.float32
        )
    cfg = XLMRobertaConfig.from_json_file(config_json or str(Path(encoder) / "config.json"))
    cfg.num_labels = TAGGING.num_labels
    return XLMRobertaForTokenClassification(cfg).to(torch.float32)


def udpos_rows(data_dir: str, tokenizer, max_len: int) -> dict[str, list]:
    """The English UD POS training split featurised as the project does (labels on first pieces)."""
    path = local_paths(Path(data_dir), TAGGING, "train", TAGGING.train_lang)[0]
    with open(path, encoding="utf-8") as f:
        raw = [json.loads(line) for line in f if line.strip()]
    rows = {name: [r[column] for r in raw] for name, column in TAGGING.columns.items()}
    return featurize_tagging(rows, tokenizer, max_len, TAGGING.labels, f"{path}")


def synthetic_tagging_rows(vocab_size: int, max_len: int, n: int = 2000, seed: int = 0) -> dict[str, list]:
    """Random tagging rows, <s> ... </s>, with lengths roughly UD English's in the kit's tokenizer (log-normal:
    mean 23.2 pieces, median 19, 95th percentile 53, a batch of 16 padded to 60.5 on average; real at max_len
    128: 23.0, 20, 52 and 58.6)."""
    rng = random.Random(seed)
    ids, labels = [], []
    for _ in range(n):
        length = max(3, min(max_len, round(rng.lognormvariate(2.95, 0.62))))
        ids.append([0] + [rng.randrange(5, vocab_size - 1) for _ in range(length - 2)] + [2])
        inner = [rng.randrange(TAGGING.num_labels) if rng.random() < 0.7 else -100 for _ in range(length - 2)]
        labels.append([-100, *inner, -100])
    return {"input_ids": ids, "labels": labels}


def adamw(groups: list[dict], lr: float, **kw) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where the build has it (as models.train._optimizer), else the plain one."""
    try:  # copies of the group dicts: an optimizer writes its defaults (fused=True among them) into them
        return torch.optim.AdamW([dict(g) for g in groups], lr=lr, fused=True, **kw)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW([dict(g) for g in groups], lr=lr, **kw)


def bare_optimizer(m, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in m.parameters() if p.ndim >= 2]
    no_decay = [p for p in m.parameters() if p.ndim < 2]
    return adamw(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], cfg.lr
    )


def bare_autocast(device: torch.device, precision: str):
    """The autocast the project's loop uses for `precision`, written out: bf16 on CUDA where supported
    (auto, bf16), bf16 on CPU with bf16, else nothing."""
    if precision == "bf16" and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if device.type == "cuda" and precision != "fp32" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def same_optimizer(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    """Raise unless both optimizers have the same class, settings and parameter groups."""

    def describe(opt: torch.optim.Optimizer) -> list:
        groups = [
            ({k: v for k, v in g.items() if k != "params"}, [id(p) for p in g["params"]]) for g in opt.param_groups
        ]
        return [type(opt).__name__, opt.defaults, groups]

    if describe(ours) != describe(theirs):
        raise SystemExit(f"unfair comparison: the bare loop's optimizer {ours} differs from the project's {theirs}")


def bare_loop(m, rows: dict[str, list], cfg: TrainConfig, collate: Collate, check: bool = False) -> tuple[float, float]:
    """Wall and process CPU seconds for cfg.max_steps steps of a plain PyTorch loop (`check`: first compare
    its optimizer with the one the project's loop builds)."""
    device = resolve_device(cfg.device)
    m.to(device).train()
    opt = bare_optimizer(m, cfg)
    if check:
        same_optimizer(opt, _optimizer(m, cfg, device))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(cfg.warmup_ratio * cfg.max_steps), cfg.max_steps))
    gen, n = torch.Generator(), len(rows["labels"])
    torch.manual_seed(cfg.seed)  # dropout, as in train
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(cfg.max_steps):
        batch = collate(rows, batch_indices(n, cfg.batch_size, cfg.seed, step), gen)
        with bare_autocast(device, cfg.precision):
            loss = m(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0


def project_loop(m, rows: dict[str, list], cfg: TrainConfig, collate: Collate) -> tuple[float, float]:
    """Wall and process CPU seconds for the project's `train` on the same model, rows and recipe."""
    device = resolve_device(cfg.device)
    m.to(device)  # outside the timing, as in bare_loop (train's own .to is then a no-op)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    train(m, rows, collate, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0


def _timed(fn: Callable[[], object], device: torch.device, reps: int) -> float:
    """Median seconds of `fn` after one untimed call."""
    fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def update_cost(m, cfg: TrainConfig, reps: int) -> dict:
    """Seconds of one optimizer step: the full optimizer, the word-embedding matrix alone (same settings) and
    that matrix with the per-parameter loop (see the module docstring)."""
    device = resolve_device(cfg.device)
    m.to(device).train()
    gen = torch.Generator(device=device).manual_seed(0)
    for p in m.parameters():
        p.grad = torch.randn(p.shape, generator=gen, device=device, dtype=p.dtype).mul_(1e-3)
    full = bare_optimizer(m, cfg)
    full_s = _timed(full.step, device, reps)
    fused = bool(full.defaults.get("fused"))
    del full
    release_memory()
    emb = m.get_input_embeddings().weight
    group = [{"params": [emb], "weight_decay": cfg.weight_decay}]  # copied below: optimizers write into groups
    only = adamw(group, cfg.lr) if fused else torch.optim.AdamW([dict(group[0])], lr=cfg.lr)
    emb_s = _timed(only.step, device, reps)
    del only
    release_memory()
    loop = torch.optim.AdamW([dict(group[0])], lr=cfg.lr, fused=False, foreach=False)
    loop_s = _timed(loop.step, device, reps)
    return {
        "optimizer": "AdamW fused" if fused else "AdamW (no fused kernel in this build)",
        "embedding_shape": list(emb.shape),
        "optimizer_step_s": full_s,
        "embedding_update_s": emb_s,
        "embedding_update_per_param_loop_s": loop_s,
    }


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kib / (1 << 20) if sys.platform == "darwin" else kib / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"), help="TrainConfig.precision")
    ap.add_argument("--compile", action="store_true", help="also time the loop with TrainConfig(compile=True)")
    ap.add_argument("--encoder", help="a checkpoint dir: time token classification on it instead of the tiny model")
    ap.add_argument("--shape-only", action="store_true", help="random weights from the encoder's config.json only")
    ap.add_argument("--config-json", help="the encoder's config.json (implies --shape-only; no --encoder needed)")
    ap.add_argument("--data", help="a data root (the realbench kit's data/): real UD English rows (needs --encoder)")
    ap.add_argument("--max-len", type=int, default=128, help="token limit of the encoder's rows")
    ap.add_argument("--opt-reps", type=int, default=5, help="timed optimizer steps for the embedding-update share")
    args = ap.parse_args()
    if args.shape_only and not (args.encoder or args.config_json):
        ap.error("--shape-only needs --encoder DIR (its config.json) or --config-json PATH")
    if args.data and not args.encoder:
        ap.error("--data needs --encoder DIR (its tokenizer)")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, lr=1e-3, seed=0, device=args.device, precision=args.precision
    )
    setup: dict = {}
    if args.encoder or args.config_json:
        from transformers import AutoTokenizer

        shape_only = args.shape_only or bool(args.config_json)

        def make():
            return encoder_model(args.encoder, args.config_json, shape_only)

        if args.data:
            tokenizer = AutoTokenizer.from_pretrained(args.encoder)
            rows, pad, source = (
                udpos_rows(args.data, tokenizer, args.max_len),
                tokenizer.pad_token_id,
                "udpos.English train",
            )
        else:
            config = Path(args.config_json or Path(args.encoder) / "config.json")
            vocab = json.loads(config.read_text())["vocab_size"]
            rows, pad, source = synthetic_tagging_rows(vocab, args.max_len), PAD, "synthetic (UD-like lengths)"
        collate, warmup = collate_for(TAGGING, pad), min(2, args.steps)
        setup = {
            "model": f"{'random-init ' if shape_only else ''}{args.config_json or args.encoder} (token classification)",
            "data": source,
            "max_len": args.max_len,
        }
    else:
        make, rows, collate, warmup = model, data(), classification_collate(PAD), 5
        setup = {"model": "tiny XLM-R sequence classifier", "data": "synthetic"}
    lengths = [len(r) for r in rows["input_ids"]]
    n = len(lengths)
    widths = [max(lengths[i] for i in batch_indices(n, args.batch_size, 0, s)) for s in range(args.steps)]
    setup.update(
        rows=n, mean_row_len=round(statistics.mean(lengths), 1), mean_batch_width=round(statistics.mean(widths), 1)
    )
    warm = TrainConfig(max_steps=warmup, batch_size=args.batch_size, device=args.device, precision=args.precision)
    bare_loop(make(), rows, warm, collate, check=True)
    release_memory()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    bare, ours = [], []
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both
        bare.append(bare_loop(make(), rows, cfg, collate))
        release_memory()
        ours.append(project_loop(make(), rows, cfg, collate))
        release_memory()
    b, o = statistics.median(t[0] for t in bare), statistics.median(t[0] for t in ours)
    b_cpu, o_cpu = statistics.median(t[1] for t in bare), statistics.median(t[1] for t in ours)
    memory = {"peak_rss_mib": round(peak_rss_mib(), 1)}
    if device.type == "cuda":
        memory["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    compiled: dict = {}
    if args.compile:  # the first run compiles (dynamo + inductor); later runs reuse its compiled code
        first = project_loop(make(), rows, replace(cfg, compile=True), collate)[0]
        again = statistics.median(
            project_loop(make(), rows, replace(cfg, compile=True), collate)[0] for _ in range(args.repeats)
        )
        compiled = {
            "compiled_first_run_s": round(first, 2),
            "compiled_steps_per_s": round(args.steps / again, 2),
            "ratio_compiled_vs_eager": round(o / again, 3),
        }
    m = make()
    params = sum(p.numel() for p in m.parameters())
    cost = update_cost(m, cfg, args.opt_reps)
    del m
    release_memory()
    per_step = o / args.steps
    print(
        json.dumps(
            {
                "benchmark": "step_throughput",
                "machine": f"{platform.machine()} {torch.get_num_threads()} thread(s)",
                "device": str(device),
                "threads": torch.get_num_threads(),
                **setup,
                "params": params,
                "steps": args.steps,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "bare_steps_per_s": round(args.steps / b, 2),
                "project_steps_per_s": round(args.steps / o, 2),
                "bare_s_per_step": round(b / args.steps, 4),
                "project_s_per_step": round(per_step, 4),
                "ratio_vs_bare": round(b / o, 3),
                "ratio_vs_bare_cpu_time": round(b_cpu / o_cpu, 3),
                "bare_runs_s": [round(t[0], 3) for t in bare],
                "project_runs_s": [round(t[0], 3) for t in ours],
                **compiled,
                "target": 0.97,
                "optimizer": cost["optimizer"],
                "embedding_shape": cost["embedding_shape"],
                "optimizer_step_s": round(cost["optimizer_step_s"], 6),
                "embedding_update_s": round(cost["embedding_update_s"], 6),
                "embedding_update_per_param_loop_s": round(cost["embedding_update_per_param_loop_s"], 6),
                "optimizer_step_share": round(cost["optimizer_step_s"] / per_step, 3),
                "embedding_update_share": round(cost["embedding_update_s"] / per_step, 3),
                **memory,
                "seed": 0,
            }
        )
    )


if __name__ == "__main__":
    main()
