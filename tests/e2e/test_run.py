"""`xstilts run` end to end on the offline world: sweep -> evaluate (Ray tasks) -> report, then `status`,
`export` and the README's reading-results snippets on the finished run."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from matplotlib.image import imread

from tests.conftest import offline_raw, write_experiments
from xstilts.search.report.tables import distinct_encoders
from xstilts.search.rundir import RunDir
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.e2e
NINE = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
LANGS = offline_raw()["target"]["languages"]
SMALL = {
    "intermediate": {"tasks": ["mnli", "none"], "steps": [100], "milestone_every": 100},
    "target": {"tasks": ["xnli"], "recipe": {"steps": 30}},
    "search": {"num_samples": 3},
    "evaluation": {"seeds": 2, "recipe": {"steps": 20}, "tasks": NINE},
}


def run_cmd(path):
    return [sys.executable, "-m", "xstilts", "run", str(path)]


def recomputed_xtreme(ev: pd.DataFrame, winner: str) -> float:
    """XTREME score on test, recomputed independently: language mean per task, task mean, seed mean."""
    head = ev[(ev.split == "test") & ev.headline & (ev.winner == winner)]
    return head.groupby(["seed", "target_task"])["score"].mean().groupby("seed").mean().mean()


def test_run_sweeps_evaluates_and_reports(tmp_path, offline_plan):
    """`xstilts run` to its report (a driver killed and resumed: tests/e2e/test_sweep.py locally, and
    test_object_store.py on S3, for the sweep and the evaluation)."""
    path = write_experiments(tmp_path, SMALL)
    exp_dir = tmp_path / "runs" / "offline"
    done = subprocess.run(run_cmd(path), capture_output=True, text=True, timeout=900, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(exp_dir / "report" / "report.md") in done.stdout
    assert not list((exp_dir / "evaluation" / "parts").glob("*.tmp"))

    winners = RunDir(exp_dir).read_winners()
    names = {w["name"] for w in winners}
    assert "none" in names and "mnli@best" in names
    ev = pd.read_parquet(exp_dir / "evaluation" / "evaluation.parquet")
    assert set(ev["winner"]) == names and set(ev["source"]) == {"offline world"}
    keys = ["winner", "target_task", "seed", "lang", "split", "metric"]
    assert not ev.duplicated(keys).any(), "a result row appears twice"
    registry = build_registry()
    head = ev[ev.headline]
    for task in NINE:  # every winner x target x seed x language x split, exactly one headline score
        spec = registry[task]
        langs = [lang for lang in spec.eval_langs if lang in LANGS]
        splits = [s for s in ("dev", "test") if s in spec.sources]
        got = head[head.target_task == task].groupby(["winner", "seed"]).size()
        assert len(got) == len(names) * 2 and (got == len(langs) * len(splits)).all(), task

    report = (exp_dir / "report" / "report.md").read_text()
    shown = set(distinct_encoders(head[head.split == "test"])["winner"])  # one winner per distinct encoder
    assert "none" in shown and "mnli@best" in shown and shown <= names
    for winner in shown:  # the report's XTREME score column is what the Parquet holds
        row = next(line for line in report.splitlines() if line.startswith(f"| {winner} |"))
        # 2 seeds: the score is shown without an interval ("too few seeds for an interval")
        shown = float(re.search(r"\| (-?\d+\.\d+) (?:± |\(too few seeds for an interval\))", row).group(1))
        assert shown == pytest.approx(recomputed_xtreme(ev, winner), abs=0.006), winner
    pngs = sorted((exp_dir / "report" / "plots").glob("*.png"))
    assert any(p.name == "duration_curves.png" for p in pngs) and len(pngs) >= 2
    for png in pngs:
        image = imread(png)
        assert image.shape[0] > 100 and image[..., :3].std() > 0.01, png  # a real picture, not blank

    status_and_export(exp_dir, names, tmp_path)
    readme_snippets_read_the_run(tmp_path)


def readme_snippets_read_the_run(tmp_path):
    """The documentation's reading-results snippets (pandas, duckdb, Ray's ResultGrid) run on this run
    directory."""
    from tests.conftest import REPO

    readme = (REPO / "docs" / "reading-results.md").read_text()
    snippets = re.findall(r"<!-- reading-results:(\w+) -->\n```python\n(.*?)```", readme, flags=re.S)
    assert [name for name, _ in snippets] == ["pandas", "duckdb", "ray"]
    for name, code in snippets:
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{name}: {out.stderr[-2000:]}"
        assert "mnli" in out.stdout, f"{name}: {out.stdout[-2000:]}"


def status_and_export(exp_dir, names, tmp_path):
    """`xstilts status` reads the finished run without Ray; `xstilts export` writes a winner's encoder that
    transformers loads, with the weights of the trial's checkpoint and a model card."""
    import torch
    import yaml
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    cli = [sys.executable, "-m", "xstilts"]
    status = json.loads(
        subprocess.run(
            [*cli, "status", str(exp_dir), "--json"], capture_output=True, text=True, timeout=120, check=True
        ).stdout
    )
    assert status["trials"]["total"] == 3 and status["trials"]["complete"] + status["trials"]["stopped"] == 3
    assert status["evaluation"]["parts_done"] == status["evaluation"]["parts_planned"] == len(names) * len(NINE) * 2
    assert status["evaluation"]["complete"] and status["report"].endswith("report/report.md")
    assert status["baseline"]["intermediate_task"] == "none" and status["best"]["intermediate_task"] == "mnli"
    listed = subprocess.run([*cli, "export", str(exp_dir), "--list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and any(line.startswith("mnli@best: mnli") for line in listed.stdout.splitlines())

    out = tmp_path / "exported"
    done = subprocess.run(
        [*cli, "export", str(exp_dir), "mnli@best", str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    model, tokenizer = AutoModel.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert tokenizer("ein Test")["input_ids"]
    winner = next(w for w in RunDir(exp_dir).read_winners() if w["name"] == "mnli@best")
    ckpt = RunDir(exp_dir).trial_checkpoint(winner["trial_id"], winner["step"])
    assert ckpt is not None
    trained = load_file(exp_dir / ckpt / "model.safetensors")
    mine = model.state_dict()
    shared = [k for k in mine if f"roberta.{k}" in trained]
    assert len(shared) > 10 and all(torch.equal(mine[k], trained[f"roberta.{k}"]) for k in shared)
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "transformers" and "en" in front["language"] and front["base_model"] == "offline"
    assert "synthetic" in card and "| xnli |" in card and "intermediate task | mnli" in card
    again = subprocess.run([*cli, "export", str(exp_dir), "mnli@best", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "not an empty directory" in again.stderr and len(again.stderr.splitlines()) == 1
