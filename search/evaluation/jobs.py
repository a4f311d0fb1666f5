"""The Ray tasks of `xstilts evaluate` (thin adapters over the recipe): a winner's intermediate encoder, and
one target fine-tune x seed scored on every language's dev and test sets."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from xstilts.models.heads import quiet_transformers, save_encoder
from xstilts.models.setup import score_split, target_model
from xstilts.models.train import Model, train
from xstilts.models.transfer import TargetFineTune
from xstilts.search.plan import TrialPlan
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Winner
from xstilts.search.sweep.trial import intermediate_config, replicate_dir, replicate_seeds, trial_seed
from xstilts.tasks.languages import is_low_resource, resource_tier
from xstilts.tasks.metrics import CHANCE, get_metric
from xstilts.tasks.registry import BASELINE, declared_registry

DECLARED = declared_registry()  # the declared splits, against which a stand-in test split is told apart


def replicate_name(name: str, replicate: int) -> str:
    """A winner's replicate as the evaluation names its encoder and parts (replicate 0: the winner's name)."""
    return name if replicate == 0 else f"{name}@r{replicate}"


def target_seeds(base: int, seeds: int, replicate: int = 0) -> list[int]:
    """The target fine-tune seeds of a winner's replicate: `seeds` of them, nested in the replicate (replicate
    r: base + r * seeds + i), so that every replicate's target fine-tunes draw fresh seeds and the intervals
    resample target seeds within intermediate seeds (replicate 0: base .. base + seeds - 1, as without
    replicates). The baseline's replicate r is the pretrained encoder fine-tuned with replicate r's seeds, so
    every comparison with it pairs on the seed."""
    return [base + replicate * seeds + i for i in range(seeds)]


def replicate_seed(plan: TrialPlan, winner: Winner, replicate: int) -> int:
    """The intermediate seed of a winner's replicate (search.replicates; replicate 0: the trial's seed)."""
    return replicate_seeds(trial_seed(plan.seed, winner.trial_id, winner.config), replicate + 1)[replicate]


def materialize_encoder(plan: TrialPlan, run_dir: RunDir, winner: Winner, replicate: int = 0) -> str:
    """The winner's intermediate encoder (of replicate `replicate`, search.replicates) as a save_pretrained
    directory in the run directory (the pretrained one for 'none'): from its Ray checkpoint at the winner's
    step, else retrained to that step with the trial's config and the replicate's seed (the same batches and
    schedule as the trial). Returns a local path to it on this node."""
    torch.set_num_threads(plan.threads)
    if winner.intermediate_task == BASELINE:
        return plan.encoder
    name = replicate_name(winner.name, replicate)
    if not run_dir.has_encoder(name):
        task = plan.registry[winner.intermediate_task]
        ckpt = run_dir.trial_checkpoint(winner.trial_id, winner.step)
        seed = replicate_seed(plan, winner, replicate)
        with run_dir.local_copy(ckpt) if ckpt else contextlib.nullcontext(None) as ckpt_dir:
            where = ckpt_dir / replicate_dir(replicate) if ckpt_dir and plan.replicates > 1 else ckpt_dir
            setup = plan.setup_training(task, seed, checkpoint=str(where) if where else None)
        model = setup.model
        if ckpt is None:
            cfg = intermediate_config(plan, winner.config, seed)
            kept: list[Model] = []  # the milestone's model (under wsd its cooled fork), as the trial had it
            train(
                model,
                setup.data,
                setup.collate,
                cfg,
                stop_at=winner.step,
                on_eval=lambda snap: kept.append(snap.model) if snap.step == winner.step else None,
            )
            model = kept[0]
        with tempfile.TemporaryDirectory(prefix="xstilts-encoder-") as tmp:
            save_encoder(model, Path(tmp))
            run_dir.put_encoder(Path(tmp), name)
    return run_dir.encoder_on_node(name)


@dataclass(frozen=True)
class ScoreJob:
    """One evaluation job: target tasks that share a fine-tune, its seed, each task's languages per scored split,
    the fine-tune (None: retrieval, scored from the encoder as it is), the winner and the data's
    label."""

    tasks: tuple[str, ...]
    seed: int
    langs: dict[str, dict[str, list[str]]]
    how: TargetFineTune | None
    winner: Winner
    source_label: str
    replicate: int = 0  # which of the winner's replicates (search.replicates) is scored
    intermediate_seed: int | None = None  # that replicate's intermediate seed (None: the baseline)


def score_job(plan: TrialPlan, run_dir: RunDir, materialized: str, job: ScoreJob) -> list[dict]:
    """`evaluate_targets` on whichever node Ray runs it: `materialized` is what `materialize_encoder`
    returned on its own node, so off a local filesystem the encoder is fetched to this node first."""
    local = run_dir.local or job.winner.intermediate_task == BASELINE
    encoder = materialized if local else run_dir.encoder_on_node(replicate_name(job.winner.name, job.replicate))
    return evaluate_targets(plan, encoder, job)


def evaluate_targets(plan: TrialPlan, encoder: str, job: ScoreJob) -> list[dict]:
    """Fine-tune on the English training set the tasks share, by `job.how` (retrieval: no training), then score
    every task's languages on dev and test; one row a metric. Several tasks share one fine-tune only when
    they train on the same data with the same head and recipe (XQuAD and MLQA: SQuAD v1.1, as XTREME's
    train_qa.sh does); the first task's dev sets choose its kept checkpoint."""
    torch.set_num_threads(plan.threads)
    quiet_transformers()
    specs = [plan.registry[t] for t in job.tasks]
    if len({s.fine_tune_key for s in specs}) > 1:
        raise ValueError(f"tasks {list(job.tasks)} do not share a training set and head")
    first = specs[0]
    dev_langs = job.langs[first.name].get("dev", [])
    model = target_model(encoder, first, plan.encoder, plan.source, job.how, job.seed, dev_langs, plan.retrieval_layer)
    rows = []
    for spec in specs:
        scored: dict = {}
        for split in ("dev", "test"):
            if split not in spec.sources:
                continue
            stand_in = split == "test" and spec.sources["test"] != DECLARED[spec.name].sources.get("test")
            for lang in job.langs[spec.name].get(split, []):  # a partial directory: scored where it has data
                same = (spec.sources[split], lang)  # XQuAD, TyDiQA-GoldP, Tatoeba: dev and test are one set
                if same not in scored:
                    scored[same] = score_split(
                        model, spec, split, lang, plan.encoder, plan.source, plan.device, plan.retrieval_layer
                    )
                rows += _rows(plan, job, spec, split, lang, scored[same], stand_in)
    return rows


def _rows(plan: TrialPlan, job: ScoreJob, spec, split: str, lang: str, scored: dict, stand_in: bool) -> list[dict]:
    """One evaluation row per metric of a (task, split, language) that `job` scored."""
    scores = dict(scored)
    chance = scores.pop(CHANCE, None)
    head = get_metric(spec.metric).headline_key
    return [
        {
            "winner": job.winner.name,
            "role": job.winner.role,
            "intermediate_task": job.winner.intermediate_task,
            "step": job.winner.step,
            "trial_id": job.winner.trial_id,
            "target_task": spec.name,
            "seed": job.seed,
            "lang": lang,
            "resource_tier": resource_tier(lang, plan.low_resource_max_class),
            # every evaluated language, not only the probed ones (tasks.languages.is_low_resource)
            "low_resource": is_low_resource(lang, plan.low_resource_max_class),
            "split": split,
            "metric": metric,
            "score": float(score),
            "headline": metric == head,
            "source": job.source_label,
            "stand_in": stand_in,  # test scores read from another split (evaluation.test_split)
            "replicate": job.replicate,
            "intermediate_seed": job.intermediate_seed,
            # the headline an encoder that knows nothing gets on this split (None: no such level)
            "chance": chance if metric == head else None,
        }
        for metric, score in scores.items()
    ]
