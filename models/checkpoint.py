"""Training checkpoints: weights in safetensors, optimizer/scheduler/RNG in a weights-only torch file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from xstilts.models.train import Model


STATE_JSON = "state.json"
TRAINER_STATE = "trainer_state.pt"
RESUME_WEIGHTS = "resume"  # a wsd milestone's uncooled model, which a resumed run goes on from


@dataclass
class Resume:
    """What `train` needs to continue: step, optimizer, scheduler and RNG states."""

    step: int
    optimizer: dict
    scheduler: dict
    torch_rng: torch.Tensor


def save_checkpoint(
    out_dir: Path,
    model: Model,
    optimizer: torch.optim.Optimizer,
    scheduler,
    step: int,
    extra: dict | None = None,
    main: Model | None = None,
    rng: torch.Tensor | None = None,
) -> None:
    """Write model (save_pretrained -> model.safetensors), trainer state and state.json to out_dir; with `main`
    (a wsd run's uncooled model, when `model` is the milestone's cooled fork) that one to out_dir/resume too.
    `rng`: the torch RNG state to resume with (default: the current one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if main is not None:
        main.save_pretrained(str(out_dir / RESUME_WEIGHTS), safe_serialization=True)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state() if rng is None else rng,
        },
        out_dir / TRAINER_STATE,
    )
    (out_dir / STATE_JSON).write_text(json.dumps({"step": step, **(extra or {})}, indent=1))


def read_state(ckpt_dir: Path) -> dict:
    """Return the JSON state (step and extras) of a checkpoint."""
    return json.loads((Path(ckpt_dir) / STATE_JSON).read_text())


def resume_weights(ckpt_dir: str | Path) -> str:
    """Where a resumed run's weights are: `resume/` for a wsd milestone (the top level holds its cooled
    fork), else the checkpoint itself."""
    main = Path(ckpt_dir) / RESUME_WEIGHTS
    return str(main if main.is_dir() else ckpt_dir)


def load_resume(ckpt_dir: Path) -> Resume:
    """Return the trainer state of a checkpoint, loaded with weights_only=True (no pickled code)."""
    trainer = torch.load(Path(ckpt_dir) / TRAINER_STATE, weights_only=True, map_location="cpu")
    return Resume(
        step=read_state(ckpt_dir)["step"],
        optimizer=trainer["optimizer"],
        scheduler=trainer["scheduler"],
        torch_rng=trainer["torch_rng"],
    )
