"""Models by task kind through transformers Auto* classes, and head transfer (encoder kept, head new)."""

from __future__ import annotations

from pathlib import Path

import torch

from xstilts.tasks.registry import TaskSpec


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (they flood trial logs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _auto_class(kind: str):
    import transformers

    classes = {
        "classification": transformers.AutoModelForSequenceClassification,
        "mlm": transformers.AutoModelForMaskedLM,
    }
    if kind not in classes:
        raise ValueError(f"no model head for task kind {kind!r} (have {sorted(classes)})")
    return classes[kind]


def _label_kwargs(spec: TaskSpec) -> dict:
    if spec.kind != "classification":
        return {}
    return {"num_labels": spec.num_labels, "id2label": dict(enumerate(spec.labels)),
            "label2id": {label: i for i, label in enumerate(spec.labels)}}


def load_for_task(name_or_path: str | Path, spec: TaskSpec, seed: int = 0) -> torch.nn.Module:
    """Load an encoder (hub id or local dir, e.g. `xlm-roberta-large`) under a fresh head for `spec`.

    The checkpoint must hold an encoder without a head of this kind (a pretrained MLM model or an
    encoder saved by `save_encoder`), as in the paper's protocol: only the encoder carries over.
    """
    quiet_transformers()
    torch.manual_seed(seed)  # the new head's initialisation
    return _auto_class(spec.kind).from_pretrained(str(name_or_path), **_label_kwargs(spec))


def transfer_encoder(source: torch.nn.Module, spec: TaskSpec, seed: int = 0) -> torch.nn.Module:
    """Return a new model for `spec` whose encoder is a copy of `source`'s, in memory."""
    quiet_transformers()
    config = source.config.__class__.from_dict(source.config.to_dict())
    for key, value in _label_kwargs(spec).items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = _auto_class(spec.kind).from_config(config)
    model.base_model.load_state_dict(source.base_model.state_dict())
    return model.to(next(source.parameters()).device)


def save_encoder(model: torch.nn.Module, out_dir: Path) -> None:
    """Save only the encoder (no head) with save_pretrained, so any head can load it."""
    model.base_model.save_pretrained(str(out_dir))
