"""The real loading path: the same load_split, with the hub ids of REFERENCE.md, through load_dataset."""

import datasets
import pytest

from xstilts.tasks.loading import DataSource, load_split
from xstilts.tasks.registry import build_registry


@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None, cache_dir=None, **kw):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": [1], "idx": [0]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_ids_configs_and_splits(fake_hub, tmp_path):
    reg, hub = build_registry(), DataSource("hub", None, tmp_path)
    ds = load_split(reg["mnli"], "train", "en", hub)
    load_split(reg["mnli"], "dev", "en", hub)
    load_split(reg["xnli"], "train", "en", hub)
    load_split(reg["xnli"], "dev", "sw", hub)
    load_split(reg["xnli"], "test", "zh", hub)
    assert fake_hub == [("nyu-mll/glue", "mnli", "train"), ("nyu-mll/glue", "mnli", "validation_matched"),
                        ("facebook/xnli", "en", "train"), ("facebook/xnli", "sw", "validation"),
                        ("facebook/xnli", "zh", "test")]
    assert ds.column_names == ["text_a", "text_b", "label"]


def test_shipped_experiments_validate():
    from tests.conftest import REPO
    from xstilts.search.config import load_experiment

    offline, _ = load_experiment(REPO / "experiments.yaml", "offline")
    large, _ = load_experiment(REPO / "experiments.yaml", "xlmr-large")
    assert offline.source == "offline" and offline.resources.cpu == 1
    assert large.model == "xlm-roberta-large" and large.resources.gpu == 0.5
    assert len(large.target.languages) == 15
