"""Bad data files: one line naming the file and what is wrong; exit status 2; nothing written.

Each kind of bad file is checked where the sweep meets it, in the plan it makes before it starts trials
(`tasks.checks`, run before any featurisation, encoder build or Ray start): through the CLI on a cold cache,
each gives one line on stderr naming the file, the task and what is wrong, exit status 2, no run directory
and an unchanged cache directory; `make_plan` refuses the same files when called on its own."""

import shutil

import pytest

from tests.conftest import write_experiments
from tests.helpers.cli import assert_rejected, invoke
from xstilts.search.config import load_context, load_experiment
from xstilts.search.plan import make_plan
from xstilts.tasks.loading import DataError
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration
REG = build_registry()


def test_resume_without_a_sweep(tmp_path, offline_plan):
    path = write_experiments(tmp_path)
    result = invoke("sweep", path, "--resume")
    assert result.exit_code == 2 and "no sweep to resume" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def local_copy(tmp_path, offline_plan):
    """A local data directory in the hub schemas: a copy of the offline world."""
    data = tmp_path / "data"
    shutil.copytree(offline_plan.source.root, data)
    return data


def cli_rejects(tmp_path, overrides: dict, *needles: str) -> None:
    """`xstilts sweep` on this experiment, with a cold cache, is refused before any work: exit 2, one line on
    stderr holding every needle and the task, no run directory, and the cache directory as it was (no
    feature cache, no datasets cache, no encoder)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    result = invoke("sweep", write_experiments(tmp_path, {**overrides, "cache_dir": str(cache)}))
    assert_rejected(result, tmp_path, *needles)
    assert list(cache.iterdir()) == [], sorted(p.name for p in cache.rglob("*"))[:20]


def plan_rejects(tmp_path, overrides: dict, *needles: str) -> None:
    """The sweep's plan on this experiment fails with one line holding every needle."""
    ctx = load_context(write_experiments(tmp_path, overrides))
    with pytest.raises(DataError) as raised:
        make_plan(ctx)
    line = str(raised.value)
    assert "\n" not in line, line
    for needle in needles:
        assert needle in line, (needle, line)
    assert not (tmp_path / "runs").exists()


def test_unreadable_data_file_is_refused_by_the_plan_too(tmp_path, local_copy):
    (local_copy / "nyu-mll/glue/mnli/train.jsonl").write_text('{"premise": "a", "hypothesis": \n')
    plan_rejects(tmp_path, {"source": str(local_copy)}, "nyu-mll/glue/mnli/train.jsonl", "not valid JSON")


# Each kind of bad file, placed in a task that comes after others in the sweep's splits (so a check that
# featurised as it went would print a line for the good tasks first and write their caches).
BAD_FILES = {
    "bytes that are not UTF-8": (
        "nyu-mll/glue/mnli/train.jsonl",
        b'{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "caf\xe9", "hypothesis": "b", "label": 1}\n',
        ["line 2: bytes that are not UTF-8 (0xe9 at byte 17 of the line)", "task mnli"],
    ),
    "a torn JSON line": (
        "facebook/xnli/sw/validation.jsonl",
        b'{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "a", "hyp\n',
        ["line 2: not valid JSON", "column", "task xnli"],
    ),
    "an empty split": ("facebook/xnli/el/validation.jsonl", b"", ["no rows", "task xnli"]),
    "wrong columns": (
        "nyu-mll/glue/mnli/train.jsonl",
        b'{"sentence1": "a", "sentence2": "b", "label": 0}\n',
        ["missing column(s)", "premise", "task mnli"],
    ),
    "a label out of range": (
        "facebook/xnli/de/validation.jsonl",
        b'{"premise": "a b", "hypothesis": "a", "label": 1}\n{"premise": "a b", "hypothesis": "a", "label": 7}\n',
        ["row 2: label 7 outside 0..2", "task xnli"],
    ),
    "a CCG line without tags": (
        "ccgbank/train.txt",
        b"the cat\tNP/N N\nsat\n",
        ["line 2: expected 'tokens TAB tags'", "task ccg"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_data_file_is_refused_with_one_line_before_any_work(tmp_path, local_copy, case):
    rel, content, needles = BAD_FILES[case]
    (local_copy / rel).write_bytes(content)
    tasks = ["anli", "cosmos_qa", "ccg", "none"] if rel.startswith("ccgbank") else ["anli", "cosmos_qa", "mnli", "none"]
    cli_rejects(tmp_path, {"source": str(local_copy), "intermediate": {"tasks": tasks}}, rel, *needles)


def test_a_missing_file_on_a_cold_cache_is_refused_before_any_work(tmp_path, local_copy):
    (local_copy / "facebook/xnli/ur/validation.jsonl").unlink()
    overrides = {"source": str(local_copy), "intermediate": {"tasks": ["anli", "cosmos_qa", "mnli", "none"]}}
    cli_rejects(tmp_path, overrides, "facebook/xnli/ur/validation.jsonl", "file not found", "task xnli")


def test_evaluation_checks_every_split_before_ray_starts(tmp_path, local_copy):
    """A test file that only the evaluation reads (UDPOS is not probed by the sweep) fails `xstilts evaluate`
    up front: one line naming the file, exit 2, no winners.json and no Ray task."""
    from xstilts.search.rundir import RunDir

    (local_copy / "google/xtreme/udpos.Greek/test.jsonl").unlink()
    path = write_experiments(tmp_path, {"source": str(local_copy), "intermediate": {"tasks": ["mnli", "none"]}})
    exp, base = load_experiment(path)
    run_dir = RunDir(tmp_path / "runs" / "offline")
    run_dir.write_meta("offline", exp.digest(), base, exp.model_dump())
    config = {"intermediate_task": "none", "intermediate_steps": 100, "lr": 1e-3, "batch_size": 8, "seed": 0}
    metrics = {"step": 0, "mean": 40.0, "low_resource_mean": 35.0, "worst": 30.0, "worst_lang": "sw"}
    run_dir.append_event({"event": "result", "trial_id": "t0", "step": 0, "config": config, "metrics": metrics})
    result = invoke("evaluate", run_dir.path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "udpos.Greek/test.jsonl" in lines[0] and "file not found" in lines[0]
    assert not (run_dir.path / "evaluation").exists()


def test_good_data_passes_the_check_silently_and_writes_nothing(tmp_path, local_copy):
    """The up-front check of a good directory, in a fresh process as the CLI runs it, prints nothing (no
    progress bars) and writes no cache."""
    import subprocess
    import sys

    cache = tmp_path / "cache"
    cache.mkdir()
    path = write_experiments(tmp_path, {"source": str(local_copy), "cache_dir": str(cache)})
    script = (
        "import sys; from xstilts.search.config import load_context; from xstilts.search.plan import check_inputs;"
        "check_inputs(load_context(sys.argv[1]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr[-2000:]
    assert list(cache.iterdir()) == []


def test_a_label_that_is_not_an_index_and_an_empty_bucc_file_are_one_line_each(tmp_path, local_copy):
    from xstilts.tasks.checks import check_split
    from xstilts.tasks.loading import DataSource

    source = DataSource("local", local_copy)
    (local_copy / "nyu-mll/glue/sst2/train.jsonl").write_text('{"sentence": "a b", "label": "positive", "idx": 0}\n')
    with pytest.raises(DataError, match=r"row 1: label 'positive' is not an integer class index.*task sst2"):
        check_split(REG["sst2"], "train", "en", source)
    gold = next(local_copy.glob("bucc2018/*.gold"))
    gold.write_text("")
    lang = gold.name.split("-")[0]
    with pytest.raises(DataError, match=r"gold: no rows \(the file is empty\) \(task bucc2018"):
        check_split(REG["bucc2018"], gold.name.split(".")[1], lang, source)
