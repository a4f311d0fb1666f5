"""Every task declared once, as data (`TaskSpec`), and the lookup that names near matches."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
NLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class HubSource:
    """Where a task's real data lives: a Hugging Face dataset id, a config ({lang} filled in) and splits."""

    dataset_id: str
    config: str
    splits: dict[str, str]  # our split name (train/dev/test) -> the data set's split name


@dataclass(frozen=True)
class TaskSpec:
    """One task: its role, kind, labels, languages, data source, column mapping and metric."""

    name: str
    role: str  # intermediate | target
    kind: str  # classification | multiple_choice | tagging | span | retrieval | none
    labels: tuple[str, ...]
    eval_langs: tuple[str, ...]
    hub: HubSource | None
    columns: dict[str, str] = field(default_factory=dict)  # internal name -> column in the data set
    metric: str = "accuracy"
    max_len: int = 128
    train_lang: str = "en"

    @property
    def num_labels(self) -> int:
        return len(self.labels)


TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="none",
        role="intermediate",
        kind="none",
        labels=(),
        eval_langs=(),
        hub=None,
        metric="none",
    ),
    TaskSpec(
        name="mnli",
        role="intermediate",
        kind="classification",
        labels=NLI_LABELS,
        eval_langs=("en",),
        hub=HubSource("nyu-mll/glue", "mnli", {"train": "train", "dev": "validation_matched"}),
        columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
    ),
    TaskSpec(
        name="xnli",
        role="target",
        kind="classification",
        labels=NLI_LABELS,
        eval_langs=XNLI_LANGS,
        # XNLI's English training set is MultiNLI; facebook/xnli ships it as the `en` train split.
        hub=HubSource("facebook/xnli", "{lang}", {"train": "train", "dev": "validation", "test": "test"}),
        columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
    ),
)


class UnknownNameError(ValueError):
    """An unknown task or language name; the message lists near matches and valid names."""


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    """Return "Unknown KIND 'name'. Did you mean …? Available: …" (after lm-eval's registry)."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(valid))}"


def build_registry(specs: tuple[TaskSpec, ...] = TASKS) -> dict[str, TaskSpec]:
    """Return the registry name -> spec built from the declarations."""
    registry: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.name in registry:
            raise ValueError(f"task {spec.name!r} declared twice")
        registry[spec.name] = spec
    return registry


def get_task(registry: dict[str, TaskSpec], name: str, role: str | None = None) -> TaskSpec:
    """Return the spec called `name` (of `role`, if given) or raise UnknownNameError."""
    valid = [n for n, s in registry.items() if role is None or s.role == role]
    if name not in valid:
        raise UnknownNameError(unknown_name_message(f"{role or ''} task".strip(), name, valid))
    return registry[name]
