"""The Ray Tune trial (a thin adapter): the recipe's intermediate training, with the transfer probe and a
checkpoint reported to Tune at each milestone."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import torch
from ray import tune

from xstilts.core.errors import WorkFailed
from xstilts.models.checkpoint import STATE_JSON, load_resume, read_state, resume_weights
from xstilts.models.heads import from_pretrained, quiet_transformers
from xstilts.models.setup import probe_targets
from xstilts.models.train import (
    Model,
    Snapshot,
    TrainConfig,
    release_memory,
    spent_steps,
    train,
)
from xstilts.models.transfer import fork_and_evaluate, recipe_config
from xstilts.search.plan import TrialPlan
from xstilts.tasks.aggregate import SUMMARY_KEYS
from xstilts.tasks.registry import Recipe


def trial_seed(base: int, trial_id: str, config: dict) -> int:
    """The trial's seed: the searcher's (experiment seed + suggestion index, in the config), else one derived
    from the trial id; both stable across restores, so repeated configurations add seed variance."""
    if config.get("seed") is not None:
        return int(config["seed"])
    return base + zlib.crc32(trial_id.encode()) % 100_000


class InjectedFault(WorkFailed, RuntimeError):
    """The test-only fault of XSTILTS_TEST_FAULT (see search/cluster.py TEST_SETTINGS)."""


def injected_fault(task: str, step: int) -> None:
    """Raise the test-only fault when XSTILTS_TEST_FAULT names this task and milestone step."""
    spec = os.environ.get("XSTILTS_TEST_FAULT")
    if not spec or spec != f"{task}@{step}":
        return
    once = os.environ.get("XSTILTS_TEST_FAULT_ONCE")
    if once:
        if Path(once).exists():
            return
        Path(once).touch()
    raise InjectedFault(f"injected test fault at {task} step {step} (XSTILTS_TEST_FAULT)")


def intermediate_config(plan: TrialPlan, config: dict, seed: int) -> TrainConfig:
    """The training recipe of a trial's sampled config (micro-batches capped by resources.max_micro_batch)."""
    recipe = Recipe(
        steps=config["intermediate_steps"],
        lr=config["lr"],
        batch_size=config["batch_size"],
        grad_accum=1,
        eval_every=plan.milestone_every,
        patience=0,
        group_by_length=plan.group_by_length,
    )
    return recipe_config(
        recipe,
        0,  # steps, not epochs
        seed=seed,
        device=plan.device,
        max_micro_batch=plan.max_micro_batch,
        precision=plan.precision,
        compile=plan.compile,
        schedule=plan.schedule,
        warmup_steps=plan.warmup_steps,
        cooldown_fraction=plan.cooldown_fraction,
        cooldown_shape=plan.cooldown_shape,
    )


def run_trial(config: dict, plan: TrialPlan) -> None:
    """Train config['intermediate_task'] for config['intermediate_steps'] steps, reporting each milestone.

    `step` (ASHA's time attribute) is the intermediate step; the no-intermediate baseline reports once,
    at step 0. Results carry the scores of `fork_and_evaluate` on the milestone's model (under the wsd schedule
    its cooled-down fork), its `cooldown_steps` and `budget_steps` (every optimizer step the trial has spent,
    the cooldowns' included).
    """
    started = time.perf_counter()
    torch.set_num_threads(plan.threads)  # on 2 cores, 2 threads per trial was 4-10x slower than 1
    task = plan.registry[config["intermediate_task"]]
    targets = _probe_targets(plan)
    seed = trial_seed(plan.seed, tune.get_context().get_trial_id(), config)
    startup: dict[str, float] = {"resumed_from_step": 0}

    def report(model: Model, step: int, snapshot: Snapshot | None) -> None:
        injected_fault(task.name, step)
        probed = fork_and_evaluate(model, targets, plan.probe, seed, list(plan.low_resource), plan.device)
        spent = {"cooldown_steps": 0, "budget_steps": 0}
        if snapshot is not None:
            spent = {"cooldown_steps": snapshot.cooldown_steps, "budget_steps": spent_steps(cfg, step)}
        metrics = {"step": step, **probed, **spent, **startup}
        release_memory()  # the probes' copies are gone; Ray keeps this worker for the next trial
        with tempfile.TemporaryDirectory() as tmp:
            if snapshot is None:
                tune.report(metrics)
            else:
                snapshot.save(Path(tmp), extra={"intermediate_task": task.name})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    if plan.replicates > 1:
        run_replicates(config, plan, task, targets, seed, startup, started)
        return
    if task.kind == "none":
        quiet_transformers()
        startup["startup_s"] = time.perf_counter() - started
        report(from_pretrained("retrieval", plan.encoder), 0, None)
        return
    cfg = intermediate_config(plan, config, seed)
    checkpoint, resume = tune.get_checkpoint(), None
    with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext() as ckpt_dir:
        if ckpt_dir is not None:
            if read_state(Path(ckpt_dir))["step"] >= cfg.max_steps:
                return
            resume = load_resume(Path(ckpt_dir))
            startup["resumed_from_step"] = resume.step  # 0 when the trial started fresh
        setup = plan.setup_training(task, seed, checkpoint=resume_weights(ckpt_dir) if ckpt_dir else None)
    startup["startup_s"] = time.perf_counter() - started  # data mapped, model loaded: reported with each result
    train(
        setup.model,
        setup.data,
        setup.collate,
        cfg,
        on_eval=lambda snap: report(snap.model, snap.step, snap),
        resume=resume,
    )
    del setup
    release_memory()


REPLICATE_STRIDE = 1_000_003  # replicate r of a trial seeded s trains with seed s + r * REPLICATE_STRIDE


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The intermediate seeds of a trial's replicates (the first is the trial's own seed)."""
    return [seed + r * REPLICATE_STRIDE for r in range(replicates)]


def replicate_dir(r: int) -> str:
    """Replicate r's checkpoint inside a replicated trial's checkpoint."""
    return f"replicate-{r}"


def replicate_mean(results: list[dict]) -> dict:
    """The replicates' probe results as one: every score their mean, `worst_lang` the one most of them share
    (ties: the first replicate's), `replicate_sd/<summary>` the summaries' spread across replicates."""
    out: dict = {}
    for key, value in results[0].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        values = [float(r[key]) for r in results if key in r]
        out[key] = sum(values) / len(values)
    langs = [r.get("worst_lang", "") for r in results]
    out["worst_lang"] = max(langs, key=langs.count)
    for key in SUMMARY_KEYS:
        values = [float(r[key]) for r in results if isinstance(r.get(key), int | float)]
        if len(values) > 1:
            mean = sum(values) / len(values)
            out[f"replicate_sd/{key}"] = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return out


def milestones_after(cfg: TrainConfig, step: int) -> list[int]:
    """The milestones a run passes after `step`: every cfg.eval_every steps, and the last."""
    every = cfg.eval_every or cfg.max_steps
    return sorted({*range(step + every - step % every, cfg.max_steps + 1, every), cfg.max_steps} - set(range(step + 1)))


def _probe_targets(plan: TrialPlan) -> list:
    """The probe's targets: each target task's English training set and its languages' dev sets, mapped."""
    tasks = [(plan.registry[t], langs) for t, langs in plan.targets]
    return probe_targets(plan.encoder, plan.source, tasks, plan.retrieval_layer)


def _baseline_replicates(plan: TrialPlan, name: str, targets: list, seeds: list[int], startup: dict) -> None:
    """The baseline's replicates: probes of the pretrained encoder with distinct seeds, reported as one."""
    quiet_transformers()
    model = from_pretrained("retrieval", plan.encoder)
    injected_fault(name, 0)
    low = list(plan.low_resource)
    probed = [fork_and_evaluate(model, targets, plan.probe, s, low, plan.device) for s in seeds]
    tune.report({"step": 0, **replicate_mean(probed), "cooldown_steps": 0, "budget_steps": 0, **startup})


WORKDIR_PREFIX = "xstilts-replicates-"  # + the owning process's pid + "-" + a random tail


def replicate_workdir() -> Path:
    """A new local directory for a replicated trial's replicate states between milestones (each replicate's
    cooled and resumable weights: gigabytes for a real encoder), after removing the stale ones on this node.
    Ray abandons a function trial's thread when it stops the trial at its last result, so the trial's own
    cleanup (a `finally`) may never run: stale directories are removed here, by the next trial on the node,
    and by the sweep's driver when it ends (`remove_stale_workdirs`)."""
    remove_stale_workdirs()
    return Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))


def remove_stale_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the replicate directories under `root` (the temp dir) that no live trial owns: their process is
    gone, or it is this process (whose earlier trial was abandoned: a process runs one trial at a time).
    Returns what was removed."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = path.name.removeprefix(WORKDIR_PREFIX).split("-", 1)[0]
        if not owner.isdigit() or (int(owner) != os.getpid() and _alive(int(owner))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def run_replicates(
    config: dict, plan: TrialPlan, task, targets: list, seed: int, startup: dict, started: float
) -> None:
    """A trial of `plan.replicates` runs of one configuration with distinct intermediate seeds, taken in turns
    milestone by milestone: each replicate trains to the milestone (resumed from its own state, kept on local
    disk between turns), is probed, and the trial reports the replicates' mean once, with one checkpoint that
    holds every replicate's (`replicate-<r>/`). ASHA so decides on the mean, and TPE is told it once. The
    baseline's replicates are probes of the pretrained encoder with distinct seeds."""
    seeds = replicate_seeds(seed, plan.replicates)
    low = list(plan.low_resource)
    if task.kind == "none":
        startup["startup_s"] = time.perf_counter() - started
        _baseline_replicates(plan, task.name, targets, seeds, startup)
        return
    cfgs = [intermediate_config(plan, config, s) for s in seeds]
    work = replicate_workdir()
    try:
        step = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as ckpt_dir:
                step = read_state(Path(ckpt_dir))["step"]
                for r in range(len(seeds)):
                    shutil.copytree(Path(ckpt_dir) / replicate_dir(r), work / replicate_dir(r))
            startup["resumed_from_step"] = step
        startup["startup_s"] = time.perf_counter() - started
        for milestone in milestones_after(cfgs[0], step):
            probed, cooled = [], []
            for r, (s, cfg) in enumerate(zip(seeds, cfgs)):
                here = work / replicate_dir(r)
                resume = load_resume(here) if here.is_dir() else None
                setup = plan.setup_training(task, s, checkpoint=resume_weights(here) if resume else None)

                def on_eval(snap: Snapshot, s: int = s, here: Path = here) -> None:
                    if snap.step != milestone:
                        return
                    injected_fault(task.name, milestone)
                    probed.append(fork_and_evaluate(snap.model, targets, plan.probe, s, low, plan.device))
                    cooled.append(snap.cooldown_steps)
                    fresh = here.with_name(here.name + ".new")
                    snap.save(fresh, extra={"intermediate_task": task.name, "seed": s})
                    shutil.rmtree(here, ignore_errors=True)
                    fresh.rename(here)

                train(setup.model, setup.data, setup.collate, cfg, on_eval=on_eval, resume=resume, stop_at=milestone)
                del setup
                release_memory()
            spent = {"cooldown_steps": cooled[0], "budget_steps": len(seeds) * spent_steps(cfgs[0], milestone)}
            (work / STATE_JSON).write_text(
                json.dumps({"step": milestone, "intermediate_task": task.name, "replicates": len(seeds)})
            )
            metrics = {"step": milestone, **replicate_mean(probed), **spent, "replicates": len(seeds), **startup}
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
