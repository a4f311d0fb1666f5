"""The whole job on the real bench kit at smoke size (`benchmarks/real_bench.py --smoke`): real local data is
labelled as such everywhere, a partial directory needs only what a run reads, the float16 encoder trains in
float32, the stand-in test split is marked, and the report shows the reference points."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from xstilts.tasks.registry import XQUAD_LANGS

pytestmark = pytest.mark.realbench

CLI = [sys.executable, "-m", "xstilts"]
ENV = {**os.environ, "COLUMNS": "200"}


@pytest.fixture(scope="module")
def bench(kit: Path, kit_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("realbench")
    script = [sys.executable, str(REPO / "benchmarks" / "real_bench.py"), str(kit), "--smoke"]
    done = subprocess.run(
        [*script, "--out", str(out), "--cache-dir", str(kit_cache)],
        capture_output=True,
        text=True,
        timeout=900,
        env=ENV,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_experiment_is_built_from_what_the_kit_holds(bench, kit):
    out, _ = bench
    exp = yaml.safe_load((out / "experiments.yaml").read_text())["realbench"]
    assert exp["intermediate"]["tasks"] == ["commonsense_qa", "squad_v2", "sst2", "none"]
    script = [sys.executable, str(REPO / "benchmarks" / "real_bench.py"), str(kit), "--write-only"]
    subprocess.run([*script, "--out", str(out / "full")], capture_output=True, check=True, timeout=120)
    full = yaml.safe_load((out / "full" / "experiments.yaml").read_text())["realbench"]
    subprocess.run([*script, "--out", str(out / "s5"), "--seed", "5"], capture_output=True, check=True, timeout=120)
    rerun = yaml.safe_load((out / "s5" / "experiments.yaml").read_text())["realbench"]
    assert (rerun["seed"], rerun["search"]["seed"]) == (5, 5) and (full["seed"], full["search"]["seed"]) == (0, 0)
    # two durations at least (a within-trial duration effect compares two milestones), 3 intermediate seeds
    # (search.replicates, issue 34), each replicate with target seeds of its own: 3 target seeds at least
    assert len(full["intermediate"]["steps"]) >= 2 and full["search"]["replicates"] >= 3
    assert full["search"]["replicates"] * full["evaluation"]["seeds"] >= 3
    assert full["evaluation"]["every_milestone"]
    assert exp["target"]["tasks"] == ["udpos", "panx", "tatoeba", "xquad"]  # a QA target among the probes
    # every target the kit can train or score: XNLI and PAWS-X have no English training file here
    assert exp["evaluation"]["tasks"] == ["udpos", "panx", "xquad", "mlqa", "bucc2018", "tatoeba"]
    # no labelled PAN-X test set, MLQA validation only, BUCC's zh-en dev set only
    assert exp["evaluation"]["test_split"] == {"panx": "dev", "mlqa": "dev", "bucc2018": "dev"}
    langs = exp["target"]["languages"]
    assert "en" in langs and {"de", "fr"} <= set(langs) and {"ur", "sw"} <= set(langs)


def test_real_local_data_is_labelled_with_its_directory_everywhere(bench, kit):
    out, line = bench
    label = f"local data ({kit / 'data'})"
    run = out / "runs" / "realbench"
    assert line["source"] == label
    assert set(pd.read_parquet(run / "results.parquet")["source"]) == {label}
    assert set(pd.read_parquet(run / "evaluation" / "evaluation.parquet")["source"]) == {label}
    md = (run / "report" / "report.md").read_text()
    assert f"Data source: {label}." in md and "offline world" not in md and "synthetic" not in md
    status = subprocess.run([*CLI, "status", str(run), "--json"], capture_output=True, text=True, env=ENV, timeout=120)
    assert json.loads(status.stdout)["source"] == label
    exported = out / "exported"
    done = subprocess.run(
        [*CLI, "export", str(run), "none", str(exported)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert done.returncode == 0, done.stderr
    card = (exported / "README.md").read_text()
    assert f"Data source: {label}." in card and "synthetic" not in card
    tasks = subprocess.run(
        [*CLI, "tasks", "--json", "--source", str(kit / "data")], capture_output=True, text=True, env=ENV, timeout=120
    )
    udpos = next(r for r in json.loads(tasks.stdout) if r["name"] == "udpos")
    assert udpos["data"] == label and "ar" in udpos["held"]["test"] and "ar" not in udpos["held"]["dev"]


def test_the_evaluation_scores_every_language_the_kit_holds_and_marks_the_stand_in(bench):
    out, line = bench
    run = out / "runs" / "realbench"
    ev = pd.read_parquet(run / "evaluation" / "evaluation.parquet")
    test = ev[ev["split"] == "test"]
    assert set(test.loc[test["target_task"] == "udpos", "lang"]) >= {"ar", "hi", "kk", "zh", "ja", "ta"}
    assert len(set(test.loc[test["target_task"] == "tatoeba", "lang"])) == 30
    stood_in = test["target_task"].isin(["panx", "mlqa", "bucc2018"])
    assert test.loc[stood_in, "stand_in"].all() and not test.loc[~stood_in, "stand_in"].any()
    assert set(test.loc[test["target_task"] == "xquad", "lang"]) == set(XQUAD_LANGS)
    assert set(test.loc[test["target_task"] == "mlqa", "lang"]) == {"en", "es", "de", "ar", "zh"}
    assert set(test.loc[test["target_task"] == "bucc2018", "lang"]) == {"zh"}
    assert ev[ev["target_task"] == "udpos"].query("split == 'dev'")["lang"].nunique() < 16  # test-only treebanks
    encoders = 3 + 1  # each intermediate task at its milestone, and `none`
    assert ev["seed"].nunique() == 2 and ev.drop_duplicates(["trial_id", "step"]).shape[0] == encoders
    md = (run / "report" / "report.md").read_text()
    assert "† bucc2018, mlqa, panx: the 'test' scores" in md
    assert "## The baseline beside published reference points" in md
    assert {r["n_encoders"] for r in line["rank_agreement"]} == {encoders}
    assert set(line["none_test"]) == {"udpos", "panx", "xquad", "mlqa", "bucc2018", "tatoeba"}
    assert "sw" in line["none_test"]["panx"]


def test_provenance_records_the_dtypes_and_the_rows_read(bench):
    out, _ = bench
    run = out / "runs" / "realbench"
    for stage in ("sweep", "evaluation"):
        record = json.loads((run / f"provenance-{stage}.json").read_text())
        assert record["checkpoint dtype"] == "float16" and record["training dtype"].startswith("float32")
        assert all({"rows", "dropped", "truncated"} <= set(s) for s in record["splits"].values())
    prov = pd.read_parquet(run / "report" / "tables" / "provenance.parquet").set_index("key")["value"]
    assert prov["sweep: checkpoint dtype / training dtype"].startswith("float16 / float32")
    assert "rows" in prov["evaluation: featurised rows"]


def test_the_dry_run_counts_the_kits_rows(bench):
    out, _ = bench
    done = subprocess.run(
        [*CLI, "sweep", str(out / "experiments.yaml"), "-n", "realbench", "--dry-run"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "12,544 train examples" in done.stdout and "21,253" not in done.stdout


def test_a_partial_kit_needs_only_what_a_run_reads_and_names_what_is_missing(kit, tmp_path):
    data = tmp_path / "data"
    for rel in ("google/xtreme/udpos.English", "google/xtreme/udpos.German", "nyu-mll/glue/sst2"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).symlink_to(kit / "data" / rel)
    exp = {
        "source": str(data),
        "model": str(kit / "encoder"),
        "cache_dir": str(tmp_path / "cache"),
        "intermediate": {"tasks": ["sst2", "none"], "steps": [2], "milestone_every": 2},
        "target": {"tasks": ["udpos"], "languages": ["en", "de", "el"], "low_resource_max_class": 3},
        "search": {"asha": {"grace_period": 2}},
    }
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump({"partial": exp}))
    done = subprocess.run(
        [*CLI, "sweep", str(path), "-n", "partial"], capture_output=True, text=True, env=ENV, timeout=600
    )
    assert done.returncode == 2 and done.stdout == ""
    missing = data / "google/xtreme/udpos.Greek/validation.jsonl"
    assert done.stderr.strip().splitlines() == [
        f"xstilts: error: {missing}: file not found (task udpos, dev split, language el)"
    ]
    assert not (tmp_path / "runs").exists()  # nothing written
    exp["target"]["languages"] = ["en", "de"]
    exp["target"]["low_resource_max_class"] = 5
    path.write_text(yaml.safe_dump({"partial": exp}))
    dry = subprocess.run(
        [*CLI, "sweep", str(path), "-n", "partial", "--dry-run"], capture_output=True, text=True, env=ENV
    )
    assert dry.returncode == 0 and "12,544 train examples" in dry.stdout  # panx, xnli ... absent: not required


def test_asha_and_tpe_replayed_on_the_bench_s_milestones_against_its_evaluated_grid(bench):
    """`benchmarks/asha_vs_grid.py --replay RUN_DIR`: no training; regrets against the evaluated grid."""
    out, _ = bench
    run = out / "runs" / "realbench"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "asha_vs_grid.py"), "--replay", str(run), "--replay-seeds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    # each grid point a run of its 2 steps plus the wsd cooldown of its one milestone (1 step)
    assert line["grid"]["points"] == 3 + 1 and line["grid"]["steps"] == 3 * (2 + 1)
    assert len(line["asha_tpe"]["picks"]) == 2
    scored = line["regret_points"]["low_resource_mean"]["n"]
    assert scored + line["skipped_picks_not_evaluated"] == 2  # every pick regretted or counted as skipped
    for summary in line["regret_points"].values():
        assert summary["n"] == scored and (summary["mean"] is None or summary["mean"] >= 0)
