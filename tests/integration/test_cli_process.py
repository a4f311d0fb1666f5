"""The CLI as a user runs it, in its own process (`python -m xstilts`): start-up, warnings on stderr, and the
dry run of the published recipes."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, write_experiments
from xstilts.search.cli import app

pytestmark = pytest.mark.integration


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "xstilts", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "sweep" in out.stdout and "prepare" in out.stdout


def test_a_high_evaluation_lr_for_a_hub_model_is_accepted_with_one_warning_line(tmp_path):
    high = {"recipe": {"lr": 2e-3}, "recipes": {"udpos": {"lr": 5e-3}, "panx": {"lr": 1e-5}}}
    path = write_experiments(tmp_path, {"source": "hub", "model": "xlm-roberta-large", "evaluation": high})
    cmd = [sys.executable, "-m", "xstilts", "sweep", str(path), "--dry-run"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xstilts: warning: "), result.stderr
    assert "offline.evaluation.recipe.lr: 0.002" in lines[0]
    assert "offline.evaluation.recipes.udpos.lr: 0.005" in lines[0]
    assert "panx" not in lines[0] and "xlm-roberta-large" in lines[0] and str(path) in lines[0]
    assert result.stdout.strip()  # the dry run itself still ran
    low = {"recipe": {"lr": 1e-5}}
    ok = write_experiments(tmp_path, {"source": "hub", "model": "xlm-roberta-large", "evaluation": low})
    quiet = subprocess.run([*cmd[:4], str(ok), "--dry-run"], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""
    offline = write_experiments(tmp_path, {"evaluation": high})  # the offline encoder: no warning
    assert CliRunner().invoke(app, ["sweep", str(offline), "--dry-run"]).stderr == ""


def test_dry_run_prints_each_recipe_and_its_optimizer_steps_on_the_real_sizes():
    cmd = [sys.executable, "-m", "xstilts", "sweep", str(REPO / "experiments.yaml"), "-n", "xlmr-large", "--dry-run"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "recipes of xlmr-large.evaluation:" in out
    xnli = next(line for line in out.splitlines() if line.strip().startswith("xnli: 2 epochs"))
    assert "batch 4 x 8 = 32" in xnli and "max_len 256" in xnli and "lr 1e-05" in xnli and "patience 30" in xnli
    assert "392,702 train examples -> 24,544 optimizer steps" in xnli
    assert "tydiqa: 2 epochs" in out and "3,696 train examples -> 462 optimizer steps" in out
