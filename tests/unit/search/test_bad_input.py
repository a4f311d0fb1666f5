"""Bad input: one line naming file, field and value; exit status 2; nothing written."""

import os

import pytest

from tests.conftest import write_experiments
from tests.helpers.cli import assert_rejected, invoke

CASES = {
    "unknown field": ({"learning_rate": 0.1}, ["offline.learning_rate", "Extra inputs are not permitted", "0.1"]),
    "wrong type": ({"search": {"num_samples": "many"}}, ["offline.search.num_samples", '"many"']),
    "unknown precision": ({"precision": "fp16"}, ["offline.precision", '"fp16"']),
    "unknown task": (
        {"intermediate": {"tasks": ["mnli", "mlni"]}},
        ["offline.intermediate.tasks", "Unknown intermediate task 'mlni'", "Did you mean 'mnli'"],
    ),
    "unknown language": (
        {"target": {"languages": ["en", "de", "xx"]}},
        ["offline.target", "Unknown language of xnli/panx/xquad/tatoeba 'xx'"],
    ),
    "lr bounds": (
        {"search": {"space": {"lr": {"low": 0.1, "high": 0.01}}}},
        ["offline.search.space.lr", "low (0.1) must be <= high (0.01)"],
    ),
    "negative lr": ({"search": {"space": {"lr": {"low": -1}}}}, ["offline.search.space.lr.low", "-1"]),
    "steps not multiples": ({"intermediate": {"steps": [150]}}, ["offline.intermediate", "[150]"]),
    "bad resources": ({"resources": {"gpu": -0.5}}, ["offline.resources.gpu", "-0.5"]),
    "gpu share above one": ({"resources": {"gpu": 1.5}}, ["offline.resources.gpu", "whole number of GPUs", "1.5"]),
    "no cpu": ({"resources": {"cpu": 0}}, ["offline.resources.cpu", "greater than 0", "0"]),
    "evaluation gpu share": (
        {"evaluation": {"resources": {"gpu": 2.5}}},
        ["offline.evaluation.resources.gpu", "whole number", "2.5"],
    ),
    "missing source dir": ({"source": "./no-such-data"}, ["offline.source", "directory not found", "no-such-data"]),
    "bad metric": ({"search": {"metric": "median"}}, ["offline.search.metric", '"median"']),
    "grace period above the largest step": (
        {"search": {"asha": {"grace_period": 400}}},
        ["search.asha.grace_period (400)", "largest intermediate step count (200)"],
    ),
    "empty task space": ({"intermediate": {"tasks": []}}, ["offline.intermediate.tasks", "at least 1 item", "[]"]),
    "empty batch-size space": ({"search": {"space": {"batch_size": []}}}, ["offline.search.space.batch_size", "[]"]),
    "negative steps": ({"intermediate": {"steps": [-100]}}, ["offline.intermediate", "positive multiples", "[-100]"]),
    "unknown target task": (
        {"target": {"tasks": ["xnli", "nosuch"]}},
        ["offline.target.tasks", "Unknown target task 'nosuch'"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_field(tmp_path, case):
    overrides, needles = CASES[case]
    path = write_experiments(tmp_path, overrides)
    assert_rejected(invoke("sweep", path), tmp_path, str(path), *needles)


def test_an_unwritable_storage_path(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        path = write_experiments(tmp_path, {"storage_path": str(locked / "runs")})
        if os.access(locked, os.W_OK):  # root ignores file modes: a file stands in for the directory instead
            locked.chmod(0o700)
            locked.rmdir()
            locked.write_text("not a directory")
        assert_rejected(invoke("sweep", path), tmp_path, "offline.storage_path", "cannot be written", str(locked))
        assert not (locked / "runs").exists()
    finally:
        if locked.is_dir():
            locked.chmod(0o700)


def test_run_needs_the_none_baseline(tmp_path):
    path = write_experiments(tmp_path, {"intermediate": {"tasks": ["mnli", "qqp"]}})
    assert_rejected(
        invoke("run", path), tmp_path, str(path), "offline.intermediate.tasks", "'none' baseline", "['mnli', 'qqp']"
    )


@pytest.mark.parametrize("command", ["sweep", "run"])
def test_missing_experiments_file(tmp_path, command):
    assert_rejected(invoke(command, tmp_path / "nope.yaml"), tmp_path, "nope.yaml", "cannot read")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "experiments.yaml"
    path.write_text("offline:\n  source: [unclosed\n")
    assert_rejected(invoke("sweep", path), tmp_path, str(path), "not valid YAML", "line")


def test_unknown_experiment_name(tmp_path):
    path = write_experiments(tmp_path)
    assert_rejected(
        invoke("sweep", path, "--name", "ofline"),
        tmp_path,
        str(path),
        "Unknown experiment 'ofline'",
        "Did you mean 'offline'",
    )


def test_changed_config_refuses_to_resume(tmp_path):
    path = write_experiments(tmp_path)
    exp_dir = tmp_path / "runs" / "offline"
    exp_dir.mkdir(parents=True)
    (exp_dir / "xstilts-experiment.json").write_text('{"digest": "0123456789ab"}')
    result = invoke("sweep", path)
    assert result.exit_code == 2 and "config changed" in result.stderr
    assert sorted(p.name for p in exp_dir.iterdir()) == ["xstilts-experiment.json"]


def test_every_error_of_the_experiment_in_one_line(tmp_path):
    path = write_experiments(tmp_path, {"source": "./no-such-data", "search": {"num_samples": 0}, "seed": "x"})
    assert_rejected(
        invoke("sweep", path),
        tmp_path,
        str(path),
        "offline.source: directory not found",
        "offline.search.num_samples",
        "offline.seed",
    )
