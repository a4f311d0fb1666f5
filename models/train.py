"""The one training loop: intermediate, target and MLM training all call `train`."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
import functools
import gc
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import torch
from transformers import get_wsd_schedule

from xstilts.core.errors import WorkFailed
from xstilts.models.checkpoint import Resume, save_checkpoint
from xstilts.models.sampling import Sampler, sampler

# A transformers model (PreTrainedModel, or the multi-task model): typed Any, since its attributes (config,
# base_model, save_pretrained, outputs' logits) are not known to torch.nn.Module's type information.
Model = Any
Batch = dict[str, torch.Tensor]
Collate = Callable[[Mapping[str, Sequence], list[int], torch.Generator], Batch]
Data = Mapping[str, Sequence]  # feature columns: mapped Arrow columns (tasks/feature_cache.py) or lists


@dataclass(frozen=True)
class TrainConfig:
    """Recipe of one training run (after nanoGPT's GPTConfig: hyperparameters beside the loop)."""

    max_steps: int
    lr: float = 5e-4
    batch_size: int = 16
    grad_accum: int = 1  # micro-batches per optimizer step
    # AdamW, clipped gradients. schedule linear: warm-up over warmup_ratio of max_steps, then linear decay to 0
    # at max_steps. schedule wsd (warmup-stable-decay; Hägele et al. 2024, arXiv 2405.18392): warm-up over
    # warmup_steps, then the constant peak rate; each evaluation (a milestone) sees a fork of the model cooled
    # down for cooldown_fraction of the steps so far (`cool_down`), while the run goes on from the uncooled state.
    warmup_ratio: float = 0.1
    schedule: str = "linear"  # linear | wsd
    warmup_steps: int | None = None  # wsd: the fixed warm-up (None: warmup_ratio of max_steps)
    cooldown_fraction: float = 0.2  # wsd: a milestone's cooldown, as a fraction of the steps before it
    cooldown_shape: str = "linear"  # wsd: linear | 1-sqrt (transformers.get_wsd_schedule's decay types)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_every: int = 0  # 0: only at the end
    patience: int = 0  # early stopping: evaluations without improvement before stopping (0: never; see fine_tune)
    device: str = "auto"  # auto | cpu | cuda
    # auto: bf16 autocast on CUDA devices that support it, fp32 elsewhere; bf16: bf16 autocast on CPU too (AMX
    # and AVX-512 bf16 CPUs run its matmuls ~1.7x faster); fp32: never. Master weights stay float32.
    precision: str = "auto"
    group_by_length: bool = False  # batches of similar length (less padding); models/sampling.py
    compile: bool = False  # torch.compile the forward and backward (dynamic shapes: batches are padded per batch)


class OutOfMemory(WorkFailed, RuntimeError):
    """CUDA ran out of memory in a training step; the message gives the batch size that did not fit."""


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    seconds: float


def cap_micro_batch(cfg: TrainConfig, cap: int | None) -> TrainConfig:
    """The same recipe with micro-batches of at most `cap` examples (None: as it is): the effective batch
    (batch_size x grad_accum) is kept, split into more micro-batches (the largest divisor <= cap), so trials
    that share a GPU fit in memory and each step still sees the same examples (the multi-task mixture draws
    its task per micro-batch)."""
    if cap is None or cfg.batch_size <= cap:
        return cfg
    effective = cfg.batch_size * cfg.grad_accum
    micro = max(d for d in range(1, cap + 1) if effective % d == 0)
    return replace(cfg, batch_size=micro, grad_accum=effective // micro)


def resolve_device(name: str) -> torch.device:
    """Return CUDA when asked or visible ('auto'), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


PRECISIONS = ("auto", "fp32", "bf16")


def autocast(device: torch.device, precision: str = "auto"):
    """The forward pass's autocast for `precision` (PRECISIONS): bf16 on a CUDA device that supports it
    (auto, bf16), bf16 on CPU only when asked (bf16), else a no-op context (fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
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


def cooldown_steps(cfg: TrainConfig, step: int) -> int:
    """How many steps the wsd cooldown of a milestone at `step` takes: cooldown_fraction of it, halves rounded
    up, at least one; 0 under linear."""
    return max(1, math.floor(cfg.cooldown_fraction * step + 0.5)) if cfg.schedule == "wsd" else 0


def spent_steps(cfg: TrainConfig, step: int) -> int:
    """Optimizer steps a run has spent by its milestone at `step`: the run's own plus every milestone's
    cooldown so far (milestones every cfg.eval_every steps, and at max_steps)."""
    milestones = {*range(cfg.eval_every, step + 1, cfg.eval_every)} if cfg.eval_every else set()
    milestones |= {step} if step in (cfg.max_steps, *milestones) else set()
    return step + sum(cooldown_steps(cfg, k) for k in milestones)


def _warmup(cfg: TrainConfig) -> int:
    """Warm-up steps: wsd's fixed count where set, else warmup_ratio of the run."""
    if cfg.schedule == "wsd" and cfg.warmup_steps is not None:
        return cfg.warmup_steps
    return int(cfg.warmup_ratio * cfg.max_steps)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """The run's learning-rate schedule: linear warm-up and decay, or wsd's warm-up then a constant rate."""
    if cfg.schedule == "wsd":
        # stable for longer than the run: the decay is the cooldown forks' alone
        return get_wsd_schedule(optimizer, _warmup(cfg), num_decay_steps=0, num_stable_steps=cfg.max_steps + 1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(_warmup(cfg), cfg.max_steps))


@dataclass
class Cooled:
    """A milestone's cooled-down fork: the model, its cooldown steps and the learning rate after them (0)."""

    model: Model
    steps: int
    lr_after: float


def cool_down(
    model: Model, optimizer: torch.optim.Optimizer, data: Data, collate: Collate, cfg: TrainConfig, step: int
) -> Cooled:
    """A copy of `model` (at optimizer step `step` of a wsd run) trained on for `cooldown_steps` more steps on the
    batches the run would see next, its learning rate decaying from the peak to 0 by `cfg.cooldown_shape`: the
    model a wsd run of `step + cooldown` steps ends with. `model`, `optimizer` and the RNG states are left as they
    were (the fork trains a deep copy with a copy of the optimizer's state, on the run's device: while it lasts
    the device holds a second model and optimizer state). The fork runs eagerly even when the run is compiled
    (`cfg.compile`), so there it matches a compiled wsd run up to the compiled kernels' rounding."""
    steps = cooldown_steps(cfg, step)
    device = next(model.parameters()).device
    fork = copy.deepcopy(model).train()
    fork_opt = _optimizer(fork, cfg, device)
    # a deep copy: load_state_dict keeps the saved tensors where they already match (the same device and
    # dtype), so without it the fork's AdamW moments would be the run's own, updated in place
    fork_opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    for group in fork_opt.param_groups:
        group["lr"] = group["initial_lr"] = cfg.lr  # the peak (the run's warm-up is over at any milestone)
    # transformers' wsd lambda: 1 - progress (or 1 - sqrt(progress)) at each of the `steps` steps, 0 after
    sched = get_wsd_schedule(
        fork_opt, 0, num_decay_steps=steps, num_stable_steps=0, decay_type=cfg.cooldown_shape, min_lr_ratio=0.0
    )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for k, batches in enumerate(_batches(data, collate, cfg, step, step + steps, device)):
            try:
                _optimizer_step(fork, batches, cfg, fork_opt, device, step + k)
            except OutOfMemory as exc:
                raise OutOfMemory(
                    f"CUDA out of memory in the wsd cooldown of the milestone at step {step}: the cooldown trains a "
                    "copy of the model and its optimizer state beside the run's, so a trial needs room for two "
                    "(give each trial a larger share of the GPU, or set intermediate.schedule: linear)"
                ) from exc
            sched.step()
    fork.eval()
    return Cooled(fork, steps, float(fork_opt.param_groups[0]["lr"]))


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up to 1, then linear decay to 0 at `total`."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


class Snapshot:
    """What `on_eval` sees: the model of this step, the last step's loss and a way to checkpoint the training
    state. Under the wsd schedule `model` is the milestone's cooled-down fork (made when first asked for,
    `cool_down`), and `main` the run's own uncooled model, which training goes on from; under linear both are
    the run's model."""

    def __init__(self, model, optimizer, scheduler, step: int, loss: torch.Tensor | None = None, cool=None):
        self.main, self.optimizer, self.scheduler, self.step = model, optimizer, scheduler, step
        self._loss, self._cool, self._cooled = loss, cool, None
        self.cooldown_steps = 0
        self.rng = torch.get_rng_state()  # the run's, before `on_eval` (probes, say) draws from it

    @property
    def model(self) -> Model:
        if self._cool is None:
            return self.main
        if self._cooled is None:
            cooled = self._cool()
            self._cooled, self.cooldown_steps = cooled.model, cooled.steps
        return self._cooled

    @property
    def loss(self) -> float:
        """The last optimizer step's loss (read from the device only when asked)."""
        return math.nan if self._loss is None else float(self._loss.item())

    def save(self, out_dir, extra: dict | None = None) -> None:
        """The checkpoint of this step: the milestone's model at the top (what evaluation, averaging and export
        read) and, under wsd, the run's uncooled model in `resume/` beside the trainer state it resumes with."""
        model, main = self.model, self.main if self._cool is not None else None  # model first: it cools down
        extra = {**(extra or {}), "cooldown_steps": self.cooldown_steps} if main is not None else extra
        save_checkpoint(out_dir, model, self.optimizer, self.scheduler, self.step, extra, main=main, rng=self.rng)


def _step_batches(data: Data, collate: Collate, cfg: TrainConfig, rows: Sampler, step: int) -> list[Batch]:
    """The micro-batches of optimizer step `step`: a pure function of the step, so a resumed run (or a
    prefetching one) sees exactly the batches an uninterrupted run would."""
    out = []
    for micro in range(cfg.grad_accum):
        k = step * cfg.grad_accum + micro
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + k)
        out.append(collate(data, rows(k), gen))
    return out


def _batches(
    data: Data, collate: Collate, cfg: TrainConfig, first: int, last: int, device: torch.device
) -> Generator[list[Batch], None, None]:
    """Each step's micro-batches on `device`, from step `first` to `last`. On CUDA the next step's batches are
    collated by a background thread while the current step runs, and copied from pinned host memory without
    blocking; on CPU they are made in order, in this thread."""
    rows = sampler(data, cfg.batch_size, cfg.seed, cfg.group_by_length)
    if device.type != "cuda":
        for step in range(first, last):
            yield [{k: v.to(device) for k, v in b.items()} for b in _step_batches(data, collate, cfg, rows, step)]
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xstilts-batches") as pool:
        ahead = pool.submit(_step_batches, data, collate, cfg, rows, first) if first < last else None
        for step in range(first, last):
            assert ahead is not None
            batches = ahead.result()
            ahead = pool.submit(_step_batches, data, collate, cfg, rows, step + 1) if step + 1 < last else None
            yield [{k: v.pin_memory().to(device, non_blocking=True) for k, v in b.items()} for b in batches]


def _optimizer(model: Model, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and LayerNorms; the fused kernel where the build has it, on CUDA
    and on CPU (PyTorch >= 2.4 ships a fused CPU AdamW: on a 111,765 x 384 embedding matrix, one thread, a
    step took 0.026 s fused against 0.24 s for the per-parameter loop; benchmarks/step_throughput.py)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]

    def groups() -> list[dict]:  # fresh dicts each time: the optimizer writes its defaults into them
        return [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    try:
        return torch.optim.AdamW(groups(), lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError):  # a build or device without the fused kernel
        return torch.optim.AdamW(groups(), lr=cfg.lr)


def _optimizer_step(
    forward: Model,
    batches: list[Batch],
    cfg: TrainConfig,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    step: int,
    model: Model | None = None,
) -> torch.Tensor | None:
    """One optimizer step over `batches` (its micro-batches), clipped; returns the step's loss, left on the
    device (float64 over micro-batches, so the sum is the one Python floats gave: no host sync per micro-step).
    `model` is the module whose parameters are clipped (`forward`, unless that is its compiled wrapper)."""
    loss_sum = None
    for batch in batches:
        try:
            with autocast(device, cfg.precision):
                loss = forward(**batch).loss
                if cfg.grad_accum > 1:
                    loss = loss / cfg.grad_accum
            loss.backward()
        except torch.cuda.OutOfMemoryError as exc:
            raise OutOfMemory(
                f"CUDA out of memory at batch size {cfg.batch_size} ({cfg.grad_accum} micro-batch(es) a step) "
                f"at step {step}: lower the batch size, or cap it with resources.max_micro_batch"
            ) from exc
        loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach().double()
    torch.nn.utils.clip_grad_norm_((model or forward).parameters(), cfg.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum


def compiled(model: Model) -> Any:
    """`torch.compile` of the model's forward, with dynamic shapes (each batch is padded to its own longest
    row); the model itself (its parameters, save_pretrained) stays the one that is trained and saved."""
    return torch.compile(model, dynamic=True)


def train(
    model: Model,
    data: Data,
    collate: Collate,
    cfg: TrainConfig,
    *,
    on_eval: Callable[[Snapshot], bool | None] | None = None,
    resume: Resume | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train `model` on featurised `data` for cfg.max_steps optimizer steps; returns the final loss.

    `stop_at` ends the run after that many steps, with the schedule of the whole run (warm-up and decay
    over cfg.max_steps): the model is then the one a full run had at that step. `on_eval` runs every
    cfg.eval_every steps, at `stop_at` and at the last; when it returns True the run stops there (early
    stopping).
    """
    last = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    if cfg.schedule == "wsd" and cfg.eval_every and _warmup(cfg) > cfg.eval_every:
        raise ValueError(
            f"wsd warm-up of {_warmup(cfg)} steps ends after the first milestone (step {cfg.eval_every}), whose "
            "cooldown starts from the peak rate"
        )
    device = resolve_device(cfg.device)
    model.to(device).train()
    optimizer = _optimizer(model, cfg, device)
    scheduler = _scheduler(optimizer, cfg)
    step = 0
    torch.manual_seed(cfg.seed)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        scheduler.load_state_dict(resume.scheduler)
        torch.set_rng_state(resume.torch_rng)
        step = resume.step
    forward = compiled(model) if cfg.compile else model
    t0, loss_value = time.perf_counter(), torch.tensor(math.nan, dtype=torch.float64)
    steps = _batches(data, collate, cfg, step, last, device)
    for batches in steps:
        loss_sum = _optimizer_step(forward, batches, cfg, optimizer, device, step, model)
        scheduler.step()
        step += 1
        loss_value = loss_sum if loss_sum is not None else loss_value
        milestone = step in (cfg.max_steps, stop_at) or (cfg.eval_every and step % cfg.eval_every == 0)
        if on_eval is not None and milestone:
            model.eval()
            cool = None
            if cfg.schedule == "wsd":
                cool = functools.partial(cool_down, model, optimizer, data, collate, cfg, step)
            # whatever on_eval draws (a probe reseeds torch) is undone: the run goes on as if it had not been
            # evaluated, so a run retrained without evaluations (search/evaluation/jobs.py) is the same run
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                stop = on_eval(Snapshot(model, optimizer, scheduler, step, loss_value, cool=cool))
            model.train()
            if stop:
                steps.close()  # the prefetching thread (CUDA) finishes its step and ends
                break
    model.eval()
    return TrainResult(steps=step, final_loss=float(loss_value.item()), seconds=time.perf_counter() - t0)
