"""The one training loop: intermediate, target and MLM training all call `train`."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xstilts.models.checkpoint import Resume, save_checkpoint

# A transformers model (PreTrainedModel, or the multi-task model): typed Any, since its attributes (config,
# base_model, save_pretrained, outputs' logits) are not known to torch.nn.Module's type information.
Model = Any
Batch = dict[str, torch.Tensor]
Collate = Callable[[dict[str, list], list[int], torch.Generator], Batch]


@dataclass(frozen=True)
class TrainConfig:
    """Recipe of one training run (after nanoGPT's GPTConfig: hyperparameters beside the loop)."""

    max_steps: int
    lr: float = 5e-4
    batch_size: int = 16
    grad_accum: int = 1  # micro-batches per optimizer step
    # AdamW with linear warm-up then decay, clipped gradients
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0  # 0: only at the end
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast to bf16 where CUDA supports it; fp32 on CPU


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    seconds: float


def resolve_device(name: str) -> torch.device:
    """Return CUDA when asked or visible ('auto'), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on a CUDA device that supports it; a no-op context on CPU (fp32)."""
    if device.type == "cuda" and bf16 and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def release_memory() -> None:
    """Collect garbage and hand the freed heap back to the OS (glibc's malloc_trim; a no-op elsewhere).

    A worker that trained a model keeps its peak heap otherwise (measured: 1.04 GiB after a multi-task
    run, 0.60 GiB after trimming), and Ray keeps workers alive between trials and jobs.
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def batch_indices(n: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """Indices of micro-batch `micro_step` in an endless stream of seeded epoch permutations.

    A pure function of its arguments, so a resumed run sees exactly the batches it would have seen.
    """
    start = micro_step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return out


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up to 1, then linear decay to 0 at `total`."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


class Snapshot:
    """What `on_eval` sees: the live model and a way to checkpoint the whole training state."""

    def __init__(self, model, optimizer, scheduler, step: int):
        self.model, self.optimizer, self.scheduler, self.step = model, optimizer, scheduler, step

    def save(self, out_dir, extra: dict | None = None) -> None:
        save_checkpoint(out_dir, self.model, self.optimizer, self.scheduler, self.step, extra)


def train(
    model: Model,
    data: dict[str, list],
    collate: Collate,
    cfg: TrainConfig,
    *,
    on_eval: Callable[[Snapshot], None] | None = None,
    resume: Resume | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train `model` on featurised `data` for cfg.max_steps optimizer steps; returns the final loss.

    `stop_at` ends the run after that many steps, with the schedule of the whole run (warm-up and decay
    over cfg.max_steps): the model is then the one a full run had at that step.
    """
    last = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    device = resolve_device(cfg.device)
    model.to(device).train()
    n = len(next(iter(data.values())))
    decay = [p for p in model.parameters() if p.ndim >= 2]  # no weight decay on biases and LayerNorms
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    warmup = int(cfg.warmup_ratio * cfg.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup, cfg.max_steps))
    step = 0
    torch.manual_seed(cfg.seed)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        scheduler.load_state_dict(resume.scheduler)
        torch.set_rng_state(resume.torch_rng)
        step = resume.step
    gen = torch.Generator().manual_seed(cfg.seed)
    t0, loss_value = time.perf_counter(), math.nan
    while step < last:
        loss_sum = 0.0
        for micro in range(cfg.grad_accum):
            idx = batch_indices(n, cfg.batch_size, cfg.seed, step * cfg.grad_accum + micro)
            gen.manual_seed(cfg.seed * 1_000_003 + step * cfg.grad_accum + micro)
            batch = {k: v.to(device) for k, v in collate(data, idx, gen).items()}
            with autocast(device, cfg.bf16):
                loss = model(**batch).loss / cfg.grad_accum
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_value = loss_sum
        if on_eval is not None and (step == cfg.max_steps or (cfg.eval_every and step % cfg.eval_every == 0)):
            model.eval()
            on_eval(Snapshot(model, optimizer, scheduler, step))
            model.train()
    model.eval()
    return TrainResult(steps=step, final_loss=loss_value, seconds=time.perf_counter() - t0)
