import json

from typer.testing import CliRunner

from tests.conftest import write_experiments
from xstilts.search.cli import app


def test_tasks_json_lists_every_task_with_languages_and_groups():
    result = CliRunner().invoke(app, ["tasks", "--json"])
    assert result.exit_code == 0
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert len(records) == 20
    assert {"name", "role", "type", "languages", "metric"} <= set(records["panx"])
    assert records["panx"]["type"] == "tagging" and len(records["panx"]["languages"]) == 40
    assert records["panx"]["resource_groups"]["yo"] == {"tier": "low", "joshi_class": 2}
    assert records["squad_v2"]["source"]["train"]["dataset_id"] == "rajpurkar/squad_v2"


def test_tasks_table():
    result = CliRunner().invoke(app, ["tasks"])
    assert result.exit_code == 0
    for name in ("anli", "multitask", "bucc2018", "tatoeba", "ccgbank"):
        assert name in result.stdout


def test_dry_run_lists_downloads_and_runs_nothing(tmp_path):
    path = write_experiments(tmp_path, {"source": "hub", "model": "xlm-roberta-large"})
    result = CliRunner().invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "recipes of offline.target (each milestone's probe):" and "model xlm-roberta-large" in lines
    assert "hub: nyu-mll/glue mnli split=train" in lines
    assert "hub: facebook/xnli sw split=validation" in lines
    assert not (tmp_path / "runs").exists()


def test_score_xtreme_cli(tmp_path):
    from tests.conftest import REPO

    fixtures = REPO / "tests" / "fixtures" / "xtreme"
    result = CliRunner().invoke(
        app, ["score", "--xtreme", str(fixtures / "predictions"), str(fixtures / "labels"), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["tasks"]["xnli"]["avg_accuracy"] == 87.5  # de 3/4, en 2/2
    assert (
        out["tasks"]["xquad"]["avg_metric"]
        == (out["tasks"]["xquad"]["avg_exact_match"] + out["tasks"]["xquad"]["avg_f1"]) / 2
    )
    missing = CliRunner().invoke(app, ["score", "--xtreme", str(fixtures / "predictions"), str(tmp_path)])
    assert missing.exit_code == 2 and "file not found" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_report_without_an_evaluation_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "xstilts evaluate" in result.stderr and len(result.stderr.splitlines()) == 1


def test_evaluate_without_a_sweep_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "xstilts-experiment.json: not found" in result.stderr
