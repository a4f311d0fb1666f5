"""A directory of real data: labelled `local data (DIR)` (a generated world only by its manifest), a partial
directory needs only the splits a run reads, the evaluation scores the languages it holds, a missing test
split is an error unless `evaluation.test_split` names its stand-in, and the dry run counts its rows."""

import json

import pytest

from tests.conftest import write_experiments
from xstilts.search.config import ConfigError, load_experiment
from xstilts.search.selection import Rule, select_winners
from xstilts.search.splits import evaluation_splits, split_langs, sweep_splits
from xstilts.search.stages import recipe_lines, stage_registry
from xstilts.search.sweep.driver import _first_points, _param_space
from xstilts.tasks.loading import DataError, DataSource, local_paths, local_rows
from xstilts.tasks.registry import build_registry

REG = build_registry()


def touch(root, task, split, lang, rows=1):
    for path in local_paths(root, REG[task], split, lang):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps({"row": i}) + "\n" for i in range(rows)) + "\n")


def test_labels_tell_real_data_from_a_generated_world(tmp_path):
    assert DataSource("hub").label == "hub"
    real = tmp_path / "real"
    real.mkdir()
    assert DataSource("local", real).label == f"local data ({real})" and not DataSource("local", real).generated
    (real / "MANIFEST.json").write_text(json.dumps({"files": {}}))  # a manifest, but not one `prepare` writes
    assert DataSource("local", real).label == f"local data ({real})"
    world = tmp_path / "world"
    world.mkdir()
    (world / "MANIFEST.json").write_text(json.dumps({"spec": {}, "digest": "d", "files": {}}))
    assert DataSource("local", world).label == "offline world" and DataSource("local", world).generated


def exp_on(tmp_path, data, overrides=None):
    overrides = {"source": str(data), "model": "offline", **(overrides or {})}
    return load_experiment(write_experiments(tmp_path, overrides), registry=REG)[0]


def test_a_partial_directory_scores_what_it_holds_and_needs_a_stand_in_for_a_missing_test_split(tmp_path):
    data = tmp_path / "data"
    touch(data, "panx", "train", "en", rows=5)
    for lang in ("en", "de", "sw"):
        touch(data, "panx", "dev", lang)
    touch(data, "udpos", "train", "en")
    touch(data, "udpos", "test", "ar")  # test only, as UD's Arabic-PUD
    touch(data, "udpos", "dev", "de")
    touch(data, "udpos", "test", "de")
    exp = exp_on(tmp_path, data, {"evaluation": {"tasks": ["udpos", "panx"]}})
    source = DataSource("local", data)
    udpos = REG["udpos"]
    assert split_langs(exp, udpos, "dev", source) == ["de"]
    assert split_langs(exp, udpos, "test", source) == ["ar", "de"]  # every language it holds, not only the probe's
    with pytest.raises(DataError) as err:
        evaluation_splits(exp, stage_registry(exp, REG, "evaluation"), ["none"], source)
    message = str(err.value)
    assert str(data / "google/xtreme/PAN-X.en/test.jsonl") in message and "task panx" in message
    assert "evaluation.test_split: {panx: dev}" in message and "\n" not in message

    exp = exp_on(tmp_path, data, {"evaluation": {"tasks": ["udpos", "panx"], "test_split": {"panx": "validation"}}})
    registry = stage_registry(exp, REG, "evaluation")
    assert registry["panx"].sources["test"] == REG["panx"].sources["dev"]
    splits = {(s.name, split, lang) for s, split, lang in evaluation_splits(exp, registry, ["none"], source)}
    assert (
        ("panx", "test", "sw") in splits and ("udpos", "dev", "ar") not in splits and ("udpos", "test", "ar") in splits
    )
    assert not any(t == "xnli" for t, _, _ in splits)  # a target the experiment does not evaluate is not required


def test_a_stand_in_must_be_a_scored_split_of_the_task(tmp_path):
    with pytest.raises(ConfigError, match=r"offline\.evaluation\.test_split: 'panx' has no scored split 'train'"):
        load_experiment(write_experiments(tmp_path, {"evaluation": {"test_split": {"panx": "train"}}}), registry=REG)


def test_the_dry_run_counts_a_local_directorys_rows(tmp_path):
    data = tmp_path / "data"
    touch(data, "udpos", "train", "en", rows=37)
    exp = exp_on(tmp_path, data)
    source = DataSource("local", data)
    assert (
        local_rows(source, REG["udpos"], "train", "en") == 37 and local_rows(source, REG["xnli"], "train", "en") is None
    )
    lines = recipe_lines(exp, REG, "offline", source)
    assert any(line.startswith("  udpos:") and "37 train examples" in line for line in lines)
    assert any(line.startswith("  xnli:") and "no local training file" in line for line in lines)
    assert not any("21,253" in line for line in lines)  # the hub's size is not printed for local data


def test_every_milestone_adds_each_other_encoder_once():
    def m(task, trial, step, en):
        return {
            "trial_id": trial,
            "step": step,
            "config": {"intermediate_task": task},
            "metrics": {"probe/udpos/en": en},
        }

    milestones = [m("none", "t0", 0, 50), m("sst2", "t1", 30, 60), m("sst2", "t1", 60, 70), m("sst2", "t2", 30, 65)]
    plain = select_winners(milestones, Rule("english_dev", True))
    assert {(w.trial_id, w.step) for w in plain} == {("t0", 0), ("t1", 60), ("t2", 30)}
    every = select_winners(milestones, Rule("english_dev", True, every=True))
    assert [w.name for w in every if w.role == "milestone"] == ["sst2@t1@step30"]
    assert len({(w.trial_id, w.step) for w in every}) == 4


def test_a_list_of_learning_rates_is_searched_and_each_is_covered_once_per_task(tmp_path):
    exp = load_experiment(
        write_experiments(tmp_path, {"search": {"num_samples": 5, "space": {"lrs": [1e-5, 1e-4]}}}), registry=REG
    )[0]
    points = _first_points(exp)
    covered = {(p["intermediate_task"], p["lr"]) for p in points[1:]}
    assert points[0]["intermediate_task"] == "none" and points[0]["lr"] == 1e-5
    assert {("anli", 1e-5), ("anli", 1e-4), ("commonsense_qa", 1e-5), ("commonsense_qa", 1e-4)} == covered
    assert _param_space(exp)["lr"].categories == [1e-5, 1e-4]
    with pytest.raises(ConfigError, match="offline.search.space.lrs"):
        load_experiment(write_experiments(tmp_path, {"search": {"space": {"lrs": [1e-5, -1.0]}}}), registry=REG)


def test_the_sweep_reads_only_the_splits_of_its_tasks(tmp_path):
    target = {"tasks": ["udpos"], "languages": ["en", "de", "el"]}
    exp = exp_on(tmp_path, tmp_path, {"intermediate": {"tasks": ["sst2", "none"]}, "target": target})
    splits = {(s.name, split) for s, split, _ in sweep_splits(exp, REG)}
    assert splits == {("sst2", "train"), ("udpos", "train"), ("udpos", "dev")}


def test_tasks_listing_says_what_a_local_directory_holds(tmp_path):
    from xstilts.search.listing import task_records, task_table

    data = tmp_path / "data"
    touch(data, "udpos", "train", "en")
    touch(data, "udpos", "test", "ar")
    records = {r["name"]: r for r in task_records(REG, DataSource("local", data))}
    assert records["udpos"]["data"] == f"local data ({data})"
    assert records["udpos"]["held"] == {"train": ["en"], "dev": [], "test": ["ar"]}
    assert records["xnli"]["held"]["dev"] == []
    assert "held" not in task_records(REG)[0]  # without a source: the registry alone
    from rich.console import Console

    console = Console(width=1000, record=True)  # a long tmp_path must not wrap
    console.print(task_table(list(records.values())))
    text = console.export_text()
    assert f"local data ({data}): train 1, test 1 language(s)" in text and f"local data ({data}): no files" in text
