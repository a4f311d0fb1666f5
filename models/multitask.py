"""Multi-task intermediate training: one shared encoder, one head per task, batches drawn from one task at
a time with probability proportional to its size, capped (T5's examples-proportional mixing with a limit).

Why this rule: the paper trains all nine tasks at once, and jiant's proportional sampler would let MNLI
and QQP (~390k and ~360k examples) drown CCG and CommonsenseQA (~10k); the cap keeps the big tasks from
taking over while still giving them more steps than the small ones. Default cap 2^14 examples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from xstilts.models.heads import load_for_task, transfer_encoder
from xstilts.models.train import Collate, Data, Model
from xstilts.tasks.registry import TaskSpec

HEADS_FILE = "heads.safetensors"
TASKS_FILE = "multitask.json"


def mixing_weights(sizes: dict[str, int], cap: int) -> dict[str, float]:
    """p(task) = min(n_task, cap) / sum over tasks of min(n, cap)."""
    capped = {name: min(n, cap) for name, n in sizes.items()}
    total = sum(capped.values())
    if total <= 0:
        raise ValueError(f"no training examples in {sorted(sizes)}")
    return {name: n / total for name, n in capped.items()}


class MultiTaskModel(torch.nn.Module):
    """Per-task HF models whose encoders are one shared module; forward(task=index, **batch)."""

    def __init__(self, models: dict[str, Model]):
        super().__init__()
        self.names = list(models)
        self.tasks = torch.nn.ModuleDict(models)
        # tie every task's encoder to one; take one with a pooler (multiple choice reads it) if any has it
        encoders = [m.base_model for m in models.values()]
        shared = next((e for e in encoders if getattr(e, "pooler", None) is not None), encoders[0])
        for model in models.values():
            setattr(model, model.base_model_prefix, shared)
        self.config = models[self.names[0]].config

    @property
    def base_model(self) -> Model:
        return self.tasks[self.names[0]].base_model

    def forward(self, task: torch.Tensor, **batch):
        return self.tasks[self.names[int(task.flatten()[0])]](**batch)

    def save_pretrained(self, out_dir: str, **_) -> None:
        """Encoder with save_pretrained (loadable under any head), plus every head in one file."""
        out = Path(out_dir)
        self.base_model.save_pretrained(str(out))
        heads = {}
        for name, model in self.tasks.items():
            prefix = f"{model.base_model_prefix}."
            for key, value in model.state_dict().items():
                if not key.startswith(prefix):
                    heads[f"{name}.{key}"] = value.detach().contiguous().cpu()
        save_file(heads, str(out / HEADS_FILE))
        (out / TASKS_FILE).write_text(json.dumps({"tasks": self.names}))


def build_multitask(
    encoder: str | Path | Model,
    specs: list[TaskSpec],
    seed: int = 0,
    labels: dict[str, tuple[str, ...] | None] | None = None,
) -> MultiTaskModel:
    """A multi-task model from a pretrained encoder (path or hub id) or an in-memory model.

    labels: tag inventories of tasks that declare none (CCG), by task name.
    """
    models = {}
    for i, spec in enumerate(specs):
        inventory = (labels or {}).get(spec.name)
        if isinstance(encoder, torch.nn.Module):
            models[spec.name] = transfer_encoder(encoder, spec, seed=seed + i, labels=inventory)
        else:
            models[spec.name] = load_for_task(encoder, spec, seed=seed + i, labels=inventory)
    return MultiTaskModel(models)


def load_multitask(
    ckpt_dir: str | Path, specs: list[TaskSpec], labels: dict[str, tuple[str, ...] | None] | None = None
) -> MultiTaskModel:
    """Reload a checkpoint written by MultiTaskModel.save_pretrained, heads included."""
    model = build_multitask(ckpt_dir, specs, labels=labels)
    heads = load_file(str(Path(ckpt_dir) / HEADS_FILE))
    for name, sub in model.tasks.items():
        state = {k.split(".", 1)[1]: v for k, v in heads.items() if k.split(".", 1)[0] == name}
        missing = sub.load_state_dict(state, strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"{ckpt_dir}: unexpected head weights {missing.unexpected_keys[:3]} for {name}")
    return model


def multitask_collate(collates: dict[str, Collate], data: Mapping[str, Data], weights: dict[str, float]):
    """A collate for `train`: picks the task of each micro-batch from the generator, then its rows.

    `train` passes indices into a virtual data set of the largest task's size; they are taken modulo the
    chosen task's size, so every task cycles through its own (seeded) order.
    """
    names = list(weights)
    probs = torch.tensor([weights[n] for n in names])

    def collate(_virtual: dict, idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        k = int(torch.multinomial(probs, 1, generator=gen))
        name = names[k]
        n = len(next(iter(data[name].values())))
        batch = collates[name](data[name], [i % n for i in idx], gen)
        return {"task": torch.tensor([k]), **batch}

    return collate
