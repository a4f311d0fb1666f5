"""Models by task kind through transformers Auto* classes, and head transfer (encoder kept, head new)."""

from __future__ import annotations

from pathlib import Path

import torch

from xstilts.models.train import Model
from xstilts.tasks.registry import TaskSpec

# The pooler belongs to some heads' encoders (MultipleChoice, the bare AutoModel) and not to others
# (SequenceClassification, TokenClassification, QA): it is the one part a transfer may add or drop.
POOLER_PREFIX = "pooler."


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (they flood trial logs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def auto_class(kind: str):
    """Return the transformers Auto class of a task kind (retrieval: the bare encoder)."""
    import transformers

    classes = {
        "classification": transformers.AutoModelForSequenceClassification,
        "multiple_choice": transformers.AutoModelForMultipleChoice,
        "tagging": transformers.AutoModelForTokenClassification,
        "span": transformers.AutoModelForQuestionAnswering,
        "retrieval": transformers.AutoModel,
        "mlm": transformers.AutoModelForMaskedLM,
    }
    if kind not in classes:
        raise ValueError(f"no model head for task kind {kind!r} (have {sorted(classes)})")
    return classes[kind]


# Training keeps float32 master weights whatever dtype a checkpoint was saved in: transformers 5 loads with
# dtype="auto", which follows a config's `dtype` (many hub checkpoints say float16), and a float16 model
# trains badly without float32 master weights and is ~17x slower on CPU (measured on a float16 12-layer
# encoder: 78 s a step against 4.6 s as float32). On CUDA the loop autocasts the float32 model to bf16.
TRAIN_DTYPE = torch.float32


def from_pretrained(kind: str, name_or_path: str | Path, **kwargs):
    """`auto_class(kind).from_pretrained` with float32 weights, whatever dtype the checkpoint stores."""
    return auto_class(kind).from_pretrained(str(name_or_path), dtype=TRAIN_DTYPE, **kwargs)


def checkpoint_dtype(name_or_path: str | Path) -> str:
    """The dtype a checkpoint's config declares (`dtype`, or `torch_dtype` in older configs); 'float32' when
    it declares none (PyTorch's default)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(name_or_path))
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return str(dtype).removeprefix("torch.") if dtype else "float32"


def label_kwargs(spec: TaskSpec, labels: tuple[str, ...] | None = None) -> dict:
    """Config overrides of the head: label maps for classification/tagging, 2 outputs for span."""
    if spec.kind == "span":  # start and end logits; a config copied from a 3-label head would break it
        return {"num_labels": 2}
    if spec.kind not in ("classification", "tagging"):
        return {}
    labels = tuple(labels) if labels else spec.labels
    if not labels:
        raise ValueError(f"task {spec.name!r} declares no labels: pass labels= (e.g. tag_inventory(train))")
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def load_for_task(
    name_or_path: str | Path, spec: TaskSpec, seed: int = 0, labels: tuple[str, ...] | None = None
) -> Model:
    """Load an encoder (hub id or local dir, e.g. `xlm-roberta-large`) under a fresh head for `spec`.

    The checkpoint must hold an encoder without a head of this kind (a pretrained MLM model or an
    encoder saved by `save_encoder`), as in the paper's protocol: only the encoder carries over.
    `labels` overrides spec.labels (CCG's tag inventory comes from its training data).
    """
    quiet_transformers()
    torch.manual_seed(seed)  # the new head's initialisation
    return from_pretrained(spec.kind, name_or_path, **label_kwargs(spec, labels))


def copy_encoder(source: Model, target: Model) -> None:
    """Copy `source`'s encoder weights into `target`'s; only the pooler may be missing on either side."""
    result = target.base_model.load_state_dict(source.base_model.state_dict(), strict=False)
    stray = [k for k in (*result.missing_keys, *result.unexpected_keys) if not k.startswith(POOLER_PREFIX)]
    if stray:
        raise ValueError(f"encoders differ beyond the pooler: {stray[:5]}")


def transfer_encoder(source: Model, spec: TaskSpec, seed: int = 0, labels: tuple[str, ...] | None = None) -> Model:
    """Return a new model for `spec` whose encoder is a copy of `source`'s, in memory."""
    quiet_transformers()
    config = source.config.__class__.from_dict(source.config.to_dict())
    for key, value in label_kwargs(spec, labels).items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = auto_class(spec.kind).from_config(config, dtype=TRAIN_DTYPE)
    copy_encoder(source, model)
    return model.to(next(source.parameters()).device)


def save_encoder(model: Model, out_dir: Path) -> None:
    """Save only the encoder (no head) with save_pretrained, so any head can load it."""
    model.base_model.save_pretrained(str(out_dir))
