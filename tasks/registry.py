"""Every task declared once, as data (`TaskSpec`), and the lookup that names near matches.

Ids, configs, splits, columns and language lists follow XTREME's evaluate.py (google-research/xtreme) and
the hub's dataset cards. Config templates take {lang}, {lang_name}, {lang_lower} and {iso3}.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from xstilts.tasks.metrics import METRICS
from xstilts.tasks.names import UnknownNameError, unknown_name_message

__all__ = [
    "BASELINE",
    "TASKS",
    "SplitSource",
    "Recipe",
    "TaskSpec",
    "UnknownNameError",
    "build_registry",
    "get_task",
    "unknown_name_message",
]

NLI_LABELS = ("entailment", "neutral", "contradiction")
UPOS = tuple("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
NER = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
# Retrieval (BUCC, Tatoeba) mean-pools one encoder layer: XTREME's is layer 14 of XLM-R Large's 24
# (scripts/run_tatoeba.sh: LAYER=13 indexes the last 24 hidden states, i.e. hidden_states[14]); an encoder
# with fewer layers is clamped to its last (models/retrieval.py pooling_layer). The one default.
RETRIEVAL_LAYER = 14

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")
UDPOS_LANGS = tuple(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh".split()
)
PANX_LANGS = tuple(
    "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th tl tr "
    "ur vi yo zh".split()
)
XQUAD_LANGS = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi")
MLQA_LANGS = ("en", "es", "de", "ar", "hi", "vi", "zh")
TYDIQA_LANGS = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
BUCC_LANGS = ("de", "fr", "ru", "zh")
TATOEBA_LANGS = tuple(
    "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr ur vi "
    "zh".split()
)

BASELINE = "none"  # the no-intermediate task: every winner and every summary is compared with it
KINDS = ("classification", "multiple_choice", "span", "tagging", "retrieval", "multitask", "none")
# How a split's files are laid out and read (tasks/loading.py has one reader per format):
# jsonl: the hub's rows as JSON lines; ccg: jiant's CCGbank lines 'tokens TAB supertags';
# bucc: XTREME's BUCC 2018 download ('id TAB sentence' per language, gold 'xx id TAB en id' pairs).
FORMATS = ("jsonl", "ccg", "bucc")


@dataclass(frozen=True)
class SplitSource:
    """One split: dataset id, config template, split expression ('a+b' concatenates), file format."""

    dataset_id: str
    config: str | None
    split: str
    id_prefix: str | None = None  # keep rows whose `id` starts with this (TyDiQA mixes languages)
    local_only: bool = False  # not on the hub (licensed or a download script): local files only
    format: str = "jsonl"  # one of FORMATS


@dataclass(frozen=True)
class Recipe:
    """A target task's English fine-tune: its length (epochs over the training set, or optimizer steps),
    lr, per-device batch x gradient accumulation (the effective batch), linear warm-up, and evaluation on a
    dev set every `eval_every` steps (0: never; the final model is kept) keeping the best checkpoint and
    stopping after `patience` evaluations without improvement (0: never stops early).

    The defaults are jiant's XTREME recipe (jiant guides/benchmarks/xtreme.md and its run-config script:
    lr 1e-5, evaluate every 1,000 steps, stop after 30 evaluations without improvement); warm-up is 10% of
    the steps, the transformers/jiant default proportion."""

    epochs: float | None = None
    steps: int | None = None
    lr: float = 1e-5
    batch_size: int = 4
    grad_accum: int = 8
    warmup_ratio: float = 0.1
    eval_every: int = 1000
    patience: int = 30
    group_by_length: bool = False  # batches of rows of similar length: less padding, same examples per epoch
    freeze_encoder: bool = False  # train the new head only (a linear probe of the encoder's features)

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum

    def optimizer_steps(self, examples: int) -> int:
        """The optimizer steps of this recipe on a training set of `examples` rows (or features)."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None, "a recipe sets epochs or steps"
        return max(1, math.ceil(self.epochs * examples / self.effective_batch))


# jiant's XTREME target recipes: epochs and per-device batch x accumulation per task (max_seq_len is the
# task's `max_len`); retrieval tasks are evaluated from the encoder as it is.
def _recipe(epochs: float, batch_size: int, grad_accum: int) -> Recipe:
    return Recipe(epochs=epochs, batch_size=batch_size, grad_accum=grad_accum)


@dataclass(frozen=True)
class TaskSpec:
    """One task: role, kind, labels, languages, where each split lives, its adapter and metric."""

    name: str
    role: str  # intermediate | target
    kind: str  # one of KINDS
    labels: tuple[str, ...]
    eval_langs: tuple[str, ...]
    sources: dict[str, SplitSource] = field(default_factory=dict)  # train | dev | test -> location
    adapter: str = "columns"  # name in tasks/adapters.py: raw hub rows -> internal columns
    columns: dict[str, str] = field(default_factory=dict)  # internal name -> hub column (for `columns`)
    metric: str = "accuracy"  # a name in tasks/metrics.py METRICS ("none": nothing to score)
    max_len: int = 128
    train_lang: str = "en"
    members: tuple[str, ...] = ()  # multitask: the tasks trained together
    no_answer: bool = False  # span: questions may have no answer in the context (SQuAD v2)
    recipe: Recipe | None = None  # a target's English fine-tune (None: not fine-tuned)
    train_size: int | None = None  # English training examples of the hub's data (for planning: --dry-run)
    # read at most this many rows of a scored (non-training) split, a seeded sample (None: all); set per stage
    # from an experiment's `max_eval_rows`, never declared here
    max_eval_rows: int | None = None

    def __hash__(self) -> int:  # specs are equal by value; their dict fields are not hashable
        return hash(self.name)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def fine_tune_key(self) -> tuple:
        """Tasks with equal keys train the same head on the same English data (XQuAD and MLQA: SQuAD v1.1),
        so one fine-tune serves them all."""
        return self.kind, self.sources.get("train"), self.max_len


def _glue(config: str, dev: str = "validation") -> dict[str, SplitSource]:
    return {"train": SplitSource("nyu-mll/glue", config, "train"), "dev": SplitSource("nyu-mll/glue", config, dev)}


def _hub(dataset_id: str, config: str | None, **splits: str) -> dict[str, SplitSource]:
    return {ours: SplitSource(dataset_id, config, theirs) for ours, theirs in splits.items()}


SQUAD_COLUMNS = {"id": "id", "context": "context", "question": "question", "answers": "answers"}
SQUAD_V1_TRAIN = SplitSource("rajpurkar/squad", None, "train")
INTERMEDIATE_TASKS = ("anli", "commonsense_qa", "cosmos_qa", "hellaswag", "mnli", "qqp", "squad_v2", "sst2", "ccg")

# The declarations are laid out by hand, a few lines each, to be read top to bottom.
# fmt: off
TASKS: tuple[TaskSpec, ...] = (
    # -- intermediate tasks (English) ---------------------------------------------------------------
    TaskSpec("none", "intermediate", "none", (), (), metric="none"),
    TaskSpec("anli", "intermediate", "classification", NLI_LABELS, ("en",),
             _hub("facebook/anli", "plain_text", train="train_r1+train_r2+train_r3", dev="dev_r1+dev_r2+dev_r3"),
             columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
    TaskSpec("commonsense_qa", "intermediate", "multiple_choice", tuple("ABCDE"), ("en",),
             _hub("tau/commonsense_qa", None, train="train", dev="validation"), adapter="commonsense_qa"),
    TaskSpec("cosmos_qa", "intermediate", "multiple_choice", ("0", "1", "2", "3"), ("en",),
             _hub("allenai/cosmos_qa", None, train="train", dev="validation"), adapter="cosmos_qa", max_len=256),
    TaskSpec("hellaswag", "intermediate", "multiple_choice", ("0", "1", "2", "3"), ("en",),
             _hub("Rowan/hellaswag", None, train="train", dev="validation"), adapter="hellaswag"),
    TaskSpec("mnli", "intermediate", "classification", NLI_LABELS, ("en",), _glue("mnli", "validation_matched"),
             columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"}),
    TaskSpec("qqp", "intermediate", "classification", ("not_duplicate", "duplicate"), ("en",), _glue("qqp"),
             columns={"text_a": "question1", "text_b": "question2", "label": "label"}),
    TaskSpec("squad_v2", "intermediate", "span", (), ("en",),
             _hub("rajpurkar/squad_v2", None, train="train", dev="validation"), columns=SQUAD_COLUMNS,
             metric="squad", max_len=384, no_answer=True),
    TaskSpec("sst2", "intermediate", "classification", ("negative", "positive"), ("en",), _glue("sst2"),
             columns={"text_a": "sentence", "label": "label"}),
    # CCGbank (LDC2005T13) is licensed: local files in jiant's format (tokens TAB supertags), with the
    # tag inventory in tags_to_id.json beside them (1,363 supertags in CCGbank).
    TaskSpec("ccg", "intermediate", "tagging", (), ("en",),
             {s: SplitSource("ccgbank", None, s, local_only=True, format="ccg") for s in ("train", "dev", "test")},
             columns={"tokens": "tokens", "tags": "tags"}, metric="tag_accuracy"),
    TaskSpec("multitask", "intermediate", "multitask", (), ("en",), members=INTERMEDIATE_TASKS, metric="none"),
    # -- XTREME targets (English training, zero-shot evaluation) --------------------------------------
    TaskSpec("xnli", "target", "classification", NLI_LABELS, XNLI_LANGS,
             # XNLI's English training set is MultiNLI; facebook/xnli ships it as the `en` train split.
             {"train": SplitSource("facebook/xnli", "en", "train"), **_hub("facebook/xnli", "{lang}", dev="validation",
                                                                     test="test")},
             columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"}, max_len=256,
             recipe=_recipe(2, 4, 8), train_size=392_702),
    TaskSpec("pawsx", "target", "classification", ("0", "1"), PAWSX_LANGS,
             {"train": SplitSource("google-research-datasets/paws-x", "en", "train"),
              **_hub("google-research-datasets/paws-x", "{lang}", dev="validation", test="test")},
             columns={"text_a": "sentence1", "text_b": "sentence2", "label": "label"}, max_len=256,
             recipe=_recipe(5, 4, 8), train_size=49_401),
    TaskSpec("udpos", "target", "tagging", UPOS, UDPOS_LANGS,
             {"train": SplitSource("google/xtreme", "udpos.English", "train"),
              **_hub("google/xtreme", "udpos.{lang_name}", dev="validation", test="test")},
             columns={"tokens": "tokens", "tags": "pos_tags"}, metric="pos", max_len=256,
             recipe=_recipe(10, 4, 8), train_size=21_253),
    TaskSpec("panx", "target", "tagging", NER, PANX_LANGS,
             {"train": SplitSource("google/xtreme", "PAN-X.en", "train"),
              **_hub("google/xtreme", "PAN-X.{lang}", dev="validation", test="test")},
             columns={"tokens": "tokens", "tags": "ner_tags"}, metric="seqeval", max_len=256,
             recipe=_recipe(10, 4, 8), train_size=20_000),
    # XQuAD has one set per language and no dev set: the probe and the test both read it (as XTREME does).
    TaskSpec("xquad", "target", "span", (), XQUAD_LANGS,
             {"train": SQUAD_V1_TRAIN, **_hub("google/xquad", "xquad.{lang}", dev="validation", test="validation")},
             columns=SQUAD_COLUMNS, metric="squad", max_len=384, recipe=_recipe(2, 4, 4), train_size=87_599),
    TaskSpec("mlqa", "target", "span", (), MLQA_LANGS,
             {"train": SQUAD_V1_TRAIN, **_hub("facebook/mlqa", "mlqa.{lang}.{lang}", dev="validation", test="test")},
             columns=SQUAD_COLUMNS, metric="mlqa", max_len=384, recipe=_recipe(2, 4, 4), train_size=87_599),
    # TyDiQA-GoldP mixes languages in one split; ids start with the language's name. Its dev is the test.
    TaskSpec("tydiqa", "target", "span", (), TYDIQA_LANGS,
             {"train": SplitSource("google-research-datasets/tydiqa", "secondary_task", "train", id_prefix="english-"),
              **{s: SplitSource("google-research-datasets/tydiqa", "secondary_task", "validation",
                             id_prefix="{lang_lower}-") for s in ("dev", "test")}},
             # the English GoldP training subset: about 3.7k of the 49,881 rows
             columns=SQUAD_COLUMNS, metric="squad", max_len=384, recipe=_recipe(2, 4, 4), train_size=3_696),
    # The hub's bucc18 configs lack the candidate pools; XTREME's download script gives them.
    TaskSpec("bucc2018", "target", "retrieval", (), BUCC_LANGS,
             {s: SplitSource("bucc2018", "{lang}-en", s, local_only=True, format="bucc") for s in ("dev", "test")},
             columns={"side": "side", "id": "id", "text": "text"}, metric="bucc_f1", max_len=512),
    TaskSpec("tatoeba", "target", "retrieval", (), TATOEBA_LANGS,
             {s: SplitSource("google/xtreme", "tatoeba.{iso3}", "validation") for s in ("dev", "test")},
             columns={"text_a": "source_sentence", "text_b": "target_sentence"}, metric="accuracy", max_len=512),
)
# fmt: on


@functools.cache
def declared_registry() -> dict[str, TaskSpec]:
    """The registry of the declared tasks, built once per process and shared: read it, never change it
    (a stage's registry with its own sequence lengths is a copy: search.stages.stage_registry)."""
    return build_registry()


def build_registry(specs: tuple[TaskSpec, ...] = TASKS) -> dict[str, TaskSpec]:
    """Return the registry name -> spec built from the declarations."""
    registry: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.name in registry:
            raise ValueError(f"task {spec.name!r} declared twice")
        if spec.kind not in KINDS:
            raise ValueError(f"task {spec.name!r}: unknown kind {spec.kind!r}")
        if spec.metric not in METRICS and not (spec.metric == "none" and spec.kind in ("none", "multitask")):
            raise ValueError(f"task {spec.name!r}: {unknown_name_message('metric', spec.metric, list(METRICS))}")
        if (spec.recipe is not None) != (spec.role == "target" and "train" in spec.sources):
            raise ValueError(f"task {spec.name!r}: a recipe is declared exactly by the targets that train")
        bad = [loc.format for loc in spec.sources.values() if loc.format not in FORMATS]
        if bad:
            raise ValueError(f"task {spec.name!r}: unknown file format {bad[0]!r} (have {', '.join(FORMATS)})")
        registry[spec.name] = spec
    return registry


def get_task(registry: dict[str, TaskSpec], name: str, role: str | None = None) -> TaskSpec:
    """Return the spec called `name` (of `role`, if given) or raise UnknownNameError."""
    valid = [n for n, s in registry.items() if role is None or s.role == role]
    if name not in valid:
        raise UnknownNameError(unknown_name_message(f"{role or ''} task".strip(), name, valid))
    return registry[name]
