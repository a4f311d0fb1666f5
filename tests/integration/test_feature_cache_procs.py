"""The feature cache across real processes: two featurising one split at the same moment make one valid cache,
and after the driver's check, trials in fresh processes only map what it wrote (no tokenisation)."""

import json
import pickle
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from xstilts.tasks.loading import DataSource, relative_files
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration
REG = build_registry()

# Counts every call of the tokenizer's class (featurisation is the only thing that tokenises).
COUNTING = r"""
import json, os, pickle, sys, time
from pathlib import Path

def count_calls(tok):
    cls, calls = type(tok), [0]
    original = cls.__call__
    def counting(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)
    cls.__call__ = counting
    return calls
"""

RACE = (
    COUNTING
    + r"""
from transformers import AutoTokenizer
from xstilts.tasks.feature_cache import load_features
from xstilts.tasks.loading import DataSource
from xstilts.tasks.registry import build_registry

tmp = Path(sys.argv[1])
tok = AutoTokenizer.from_pretrained(str(tmp / "tok"))
calls = count_calls(tok)
source = DataSource("local", tmp / "data", tmp / "hf")
spec = build_registry()["sst2"]
(tmp / f"ready-{os.getpid()}").touch()
while not (tmp / "go").exists():
    time.sleep(0.002)
table = load_features(spec, "train", "en", source, tok)
print(json.dumps({"calls": calls[0], "path": str(table.path), "rows": len(table["input_ids"])}))
"""
)

TRIAL = (
    COUNTING
    + r"""
from xstilts.models.setup import probe_targets, tokenizer_for
from xstilts.models.train import TrainConfig, train
from xstilts.tasks.feature_cache import Column

plan, task = pickle.loads(Path(sys.argv[1]).read_bytes())
calls = count_calls(tokenizer_for(plan.encoder))
targets = probe_targets(plan.encoder, plan.source, [(plan.registry[t], l) for t, l in plan.targets], 1)
setup = plan.setup_training(plan.registry[task], seed=0)
train(setup.model, setup.data, setup.collate, TrainConfig(max_steps=2, batch_size=4, device="cpu"))
mapped = all(isinstance(c, Column) for c in setup.data.values())
print(json.dumps({"calls": calls[0], "mapped": mapped, "targets": len(targets)}))
"""
)

DRIVER = r"""
import gc, pickle, sys
from pathlib import Path
from xstilts.models.setup import features_for
from xstilts.search.plan import check_splits
from xstilts.tasks.feature_cache import Column, FeatureTable

splits, encoder, source = pickle.loads(Path(sys.argv[1]).read_bytes())
check_splits(splits, encoder, source)
gc.collect()
alive = [o for o in gc.get_objects() if isinstance(o, (FeatureTable, Column))]
print(len(alive), features_for.cache_info().currsize)
"""


def run_script(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def output(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out.strip().splitlines()[-1]


def test_two_processes_featurising_one_split_at_once_make_one_cache(tmp_path):
    from xstilts.models.pretrain import train_tokenizer
    from xstilts.tasks.feature_cache import as_lists, load_features
    from xstilts.tasks.features import featurize
    from xstilts.tasks.loading import load_split

    rng = random.Random(0)
    words = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "de", "fa"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randrange(4, 30))) for _ in range(20_000)]
    tok = train_tokenizer(lines[:500], 60, 64)
    tok.save_pretrained(str(tmp_path / "tok"))
    spec = REG["sst2"]
    (rel,) = relative_files(spec, "train", "en")
    target = tmp_path / "data" / rel
    target.parent.mkdir(parents=True)
    target.write_text("".join(json.dumps({"sentence": s, "label": i % 2}) + "\n" for i, s in enumerate(lines)))

    procs = [run_script(RACE, str(tmp_path)) for _ in range(2)]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.time() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = [json.loads(output(p)) for p in procs]

    assert sorted(r["calls"] > 0 for r in results) == [False, True]  # one featurised, the other waited and mapped
    assert results[0]["path"] == results[1]["path"] and results[0]["rows"] == 20_000
    root = tmp_path / "hf" / "features"
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [Path(results[0]["path"]).name]
    source = DataSource("local", tmp_path / "data", tmp_path / "hf")
    cached = load_features(spec, "train", "en", source, tok)
    assert as_lists(cached) == featurize(load_split(spec, "train", "en", source), spec, tok)


def test_after_the_driver_check_trials_in_new_processes_only_map_the_features(tmp_path, offline_plan):
    from xstilts.search.splits import training_specs

    source = DataSource(offline_plan.source.kind, offline_plan.source.root, tmp_path / "hf")  # a cold cache
    plan = replace(offline_plan, source=source)
    task = "mnli"
    splits = [(s, "train", "en") for s in training_specs([task], plan.registry)]
    for name, langs in plan.targets:
        spec = plan.registry[name]
        splits += [(spec, "train", "en")] * ("train" in spec.sources) + [(spec, "dev", lang) for lang in langs]
    (tmp_path / "driver.pkl").write_bytes(pickle.dumps((splits, plan.encoder, source)))
    alive, cached = output(run_script(DRIVER, str(tmp_path / "driver.pkl"))).split()
    assert (alive, cached) == ("0", "0")  # the check keeps no features in the driver
    built = [p for p in (tmp_path / "hf" / "features").iterdir() if not p.name.endswith(".lock")]
    assert len(built) == len(set(splits))

    (tmp_path / "trial.pkl").write_bytes(pickle.dumps((plan, task)))
    for _ in range(2):  # two trials, one process each
        result = json.loads(output(run_script(TRIAL, str(tmp_path / "trial.pkl"))))
        assert result == {"calls": 0, "mapped": True, "targets": len(plan.targets)}
