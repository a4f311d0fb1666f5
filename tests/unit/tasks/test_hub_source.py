"""The real loading path for every hub task: the same load_split, the hub ids of the data sets and
`datasets.load_dataset`, exercised on fixture rows in each data set's own schema."""

import json
from pathlib import Path

import datasets
import pytest

from tests.helpers.columns import INTERNAL
from xstilts.tasks.loading import DataError, DataSource, load_split, read_bucc
from xstilts.tasks.registry import build_registry

REG = build_registry()
ROWS = json.loads((Path(__file__).parents[2] / "fixtures" / "hub_rows.json").read_text())


@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None, cache_dir=None, **kw):
        calls.append((path, name, split))
        key = path if path in ROWS else f"{path}/{(name or '').split('.')[0]}"
        return datasets.Dataset.from_list(ROWS[key])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


HUB_TASKS = sorted(n for n, s in REG.items() if s.sources and not s.sources[next(iter(s.sources))].local_only)


@pytest.mark.parametrize("task", HUB_TASKS)
def test_every_hub_task_loads_into_its_kind_s_columns(fake_hub, tmp_path, task):
    spec = REG[task]
    lang = "sw" if task == "tydiqa" else spec.eval_langs[-1]
    for split in spec.sources:
        ds = load_split(spec, split, "en" if split == "train" else lang, DataSource("hub", None, tmp_path))
        assert INTERNAL[spec.kind] <= set(ds.column_names), (task, split, ds.column_names)
        assert len(ds) >= 1


def test_hub_ids_configs_and_splits(fake_hub, tmp_path):
    hub = DataSource("hub", None, tmp_path)
    load_split(REG["mnli"], "dev", "en", hub)
    load_split(REG["anli"], "train", "en", hub)
    load_split(REG["udpos"], "test", "de", hub)
    load_split(REG["tatoeba"], "test", "sw", hub)
    load_split(REG["mlqa"], "dev", "vi", hub)
    assert fake_hub == [
        ("nyu-mll/glue", "mnli", "validation_matched"),
        ("facebook/anli", "plain_text", "train_r1+train_r2+train_r3"),
        ("google/xtreme", "udpos.German", "test"),
        ("google/xtreme", "tatoeba.swh", "validation"),
        ("facebook/mlqa", "mlqa.vi.vi", "validation"),
    ]


def test_reshaping_adapters(fake_hub, tmp_path):
    hub = DataSource("hub", None, tmp_path)
    csqa = load_split(REG["commonsense_qa"], "train", "en", hub)[0]
    assert csqa["choices"] == ["fridge", "oven", "car", "bed", "sky"] and csqa["label"] == 0
    cosmos = load_split(REG["cosmos_qa"], "train", "en", hub)[0]
    assert cosmos["choices"][3] == "None of the above choices ." and cosmos["label"] == 1
    hella = load_split(REG["hellaswag"], "train", "en", hub)[0]
    assert hella["context"] == "She mixes flour. she" and hella["label"] == 0 and len(hella["choices"]) == 4
    sw = load_split(REG["tydiqa"], "dev", "sw", hub)
    assert sw["id"] == ["swahili-2"]  # TyDiQA's mixed split, filtered by language prefix
    en = load_split(REG["tydiqa"], "train", "en", hub)
    assert en["id"] == ["english-1"]
    squad2 = load_split(REG["squad_v2"], "train", "en", hub)
    assert squad2[1]["answers"]["text"] == []  # unanswerable kept as an empty answer list


def test_local_only_sources_refuse_the_hub(tmp_path):
    with pytest.raises(DataError, match="not on the hub"):
        load_split(REG["ccg"], "train", "en", DataSource("hub", None, tmp_path))


def test_ccg_and_bucc_local_formats(tmp_path):
    (tmp_path / "ccgbank").mkdir()
    (tmp_path / "ccgbank" / "train.txt").write_text("The dog barks\tNP[nb]/N N S[dcl]\\NP\n")
    ds = load_split(REG["ccg"], "train", "en", DataSource("local", tmp_path, tmp_path / "hf"))
    assert ds[0] == {"tokens": ["The", "dog", "barks"], "tags": ["NP[nb]/N", "N", "S[dcl]\\NP"]}
    bucc = tmp_path / "bucc2018"
    bucc.mkdir()
    (bucc / "de-en.dev.de").write_text("de-1\tHallo Welt\nde-2\tGuten Tag\n")
    (bucc / "de-en.dev.en").write_text("en-7\tHello world\n")
    (bucc / "de-en.dev.gold").write_text("de-1\ten-7\n")
    src, tgt, gold = read_bucc(tmp_path, REG["bucc2018"], "dev", "de")
    assert src == {"de-1": "Hallo Welt", "de-2": "Guten Tag"} and tgt == {"en-7": "Hello world"}
    assert gold == {("de-1", "en-7")}
    (bucc / "de-en.dev.gold").write_text("de-1 en-7\n")
    with pytest.raises(DataError, match=r"de-en.dev.gold:1: expected 'id TAB text'"):
        read_bucc(tmp_path, REG["bucc2018"], "dev", "de")


def test_shipped_experiments_validate():
    from tests.conftest import REPO
    from xstilts.search.config import load_experiment

    offline, _ = load_experiment(REPO / "experiments.yaml", "offline")
    large, _ = load_experiment(REPO / "experiments.yaml", "xlmr-large")
    assert offline.source == "offline" and offline.resources.cpu == 1
    assert large.model == "xlm-roberta-large" and large.resources.gpu == 0.5
    assert len(large.target.languages) == 21 and "multitask" not in large.intermediate.tasks
