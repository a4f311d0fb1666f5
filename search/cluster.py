"""What the connected Ray cluster can hold: a per-trial (or per-job) request that no node could ever run is
refused before anything is written, instead of waiting for ever."""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import ray
import torch

from xstilts.search.config import ConfigError, Experiment
from xstilts.search.settings import Resources

T = TypeVar("T")

RAY_ENV = {  # quiet Ray's own console output; the ProgressView callback shows progress instead
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_AUTH_MODE": "disabled",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}
# Ray Tune snapshots the whole experiment (every trial's state, as JSON) every TUNE_GLOBAL_CHECKPOINT_S seconds;
# "auto" (Ray's default) keeps the period >= 10 s and >= 19x the last snapshot's time, so snapshots stay ~5% of
# the driver's time however many trials there are. A trial must be in a snapshot before its first result, or a
# driver kill orphans it (its milestones are left out of the results, and the searcher suggests it again). So
# small sweeps, whose snapshots are cheap and whose trials may report within seconds (the offline world),
# snapshot every second; larger ones use Ray's adaptive period: a real trial's first milestone takes far longer
# than 10 s, and at 2,000 trials a one-second period spent half the driver's time writing snapshots
# (benchmarks/scale.py).
SNAPSHOT_EVERY_SECOND_UP_TO = 32  # trials


def snapshot_period(num_samples: int) -> str:
    """TUNE_GLOBAL_CHECKPOINT_S for a sweep of `num_samples` trials."""
    return "1" if num_samples <= SNAPSHOT_EVERY_SECOND_UP_TO else "auto"


# Where to find an object store, passed to trials and jobs on every node (not credentials: each node needs its
# own, as Ray Tune's own storage does; a local Ray's workers inherit the driver's environment).
STORAGE_SETTINGS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EC2_METADATA_DISABLED",
)

# Test-only settings (environment variables), read by trials: never set in real runs.
# XSTILTS_TEST_FAULT="<task>@<step>": a trial of that task raises at that milestone (search/sweep/trial.py);
# XSTILTS_TEST_FAULT_ONCE=<path>: only while <path> does not exist (the fault creates it), so a retry passes.
# XSTILTS_TEST_SIMULATE_GATE=<dir>: each simulated milestone waits for a token the test grants by writing a count
# to <dir>/allow, so a test holds a driver at a known point without a clock (search/sweep/simulate.py).
TEST_SETTINGS = ("XSTILTS_TEST_FAULT", "XSTILTS_TEST_FAULT_ONCE", "XSTILTS_TEST_SIMULATE_GATE")


def init_ray(address: str | None, exp: Experiment, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Connect to `address` (or start a local Ray), quiet, with the hub switched off for offline data;
    num_cpus / num_gpus: what a local Ray declares (None: this machine's; a simulated cluster's fake GPUs)."""

    os.environ.update(RAY_ENV, TUNE_GLOBAL_CHECKPOINT_S=snapshot_period(exp.search.num_samples))
    env = dict(RAY_ENV)
    env.update({k: v for k, v in os.environ.items() if k in TEST_SETTINGS + STORAGE_SETTINGS})  # to every node
    if exp.source != "hub" and exp.model == "offline":
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    ray.init(
        address=address or "local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": env},
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    logging.getLogger("ray.tune").setLevel(logging.WARNING)


def node_resources() -> list[dict[str, float]]:
    """The total resources of each alive node of the connected cluster (`ray.nodes()`)."""

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def local_node() -> list[dict[str, float]]:
    """The one node a local Ray (`ray.init()` with no address) starts: every CPU core and CUDA device."""

    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}]


def connect_checked(
    address: str | None, exp: Experiment, request: Resources, field: str, prepare: Callable[[], T]
) -> T:
    """Check `request` against the cluster, then run `prepare` (the plan: data and encoder) and leave Ray
    connected. With an address, Ray is connected first to ask the cluster. A local run checks this machine
    first, then starts Ray while the plan runs in a thread (Ray's start is mostly waiting for its processes,
    seconds that a short sweep would otherwise add to its wall time); if the plan fails, Ray is shut down
    and the plan's error raised, with nothing written."""

    try:
        if address is not None:
            init_ray(address, exp)
            check_fits(request, field)
            return prepare()
        check_fits(request, field, local_node())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xstilts-plan") as pool:
            # the plan runs in the caller's context (its progress reporter: xstilts.tasks.reporting)
            planned = pool.submit(contextvars.copy_context().run, prepare)
            started: Exception | None = None
            try:
                init_ray(address, exp)
            except Exception as exc:
                started = exc
            prepared = planned.result()  # a bad input's error comes before Ray's
            if started is not None:
                raise started
            return prepared
    except BaseException:
        ray.shutdown()
        raise


def check_fits(
    request: Resources, field: str, nodes: list[dict[str, float]] | None = None
) -> list[dict[str, float]] | None:
    """Refuse `request` (one trial's or one evaluation job's resources, at `field` of the experiment) when no
    node has that many CPUs and GPUs, unless the cluster autoscales (`resources.autoscaling`). Returns the
    nodes that hold it (None when the cluster autoscales: nothing is checked)."""
    if request.autoscaling:
        return None
    nodes = node_resources() if nodes is None else nodes
    fits = [n for n in nodes if n.get("CPU", 0.0) >= request.cpu and n.get("GPU", 0.0) >= request.gpu]
    if fits:
        return fits
    most_cpu = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    most_gpu = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    raise ConfigError(
        f"{field}: {{cpu: {request.cpu:g}, gpu: {request.gpu:g}}} per trial, but no node of the cluster has that "
        f"({len(nodes)} node(s), at most {most_cpu:g} CPUs and {most_gpu:g} GPUs on one); lower it, or set "
        f"{field}.autoscaling: true if the cluster adds nodes on demand"
    )
