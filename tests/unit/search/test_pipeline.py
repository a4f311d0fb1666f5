"""The library API: `xstilts.load_results` reads a run directory's tables as DataFrames."""

import pyarrow as pa
import pytest

import xstilts
from xstilts.search.rundir import RunDir


def test_load_results_returns_the_milestones_and_the_evaluation(tmp_path):
    run_dir = RunDir(tmp_path / "runs" / "offline")
    with pytest.raises(FileNotFoundError, match="no sweep results"):
        xstilts.load_results(run_dir.path)
    run_dir.write_results(pa.table({"trial_id": ["a", "a"], "step": [100, 200], "score": [40.0, 45.0]}))
    milestones, evaluation = xstilts.load_results(run_dir.path)
    assert list(milestones["step"]) == [100, 200] and evaluation.empty  # not evaluated yet
    run_dir.write_part([{"winner": "none", "target_task": "xnli", "seed": 0, "score": 41.0}], "none", "xnli", 0)
    run_dir.collect_parts()
    results = xstilts.load_results(str(run_dir.path))
    assert results.evaluation.to_dict("records") == [
        {"winner": "none", "target_task": "xnli", "seed": 0, "score": 41.0}
    ]
    assert results.milestones.to_dict("list") == {"trial_id": ["a", "a"], "step": [100, 200], "score": [40.0, 45.0]}


def test_the_package_exports_the_pipeline_lazily():
    from xstilts.search import pipeline

    assert xstilts.run_experiment is pipeline.run_experiment and xstilts.load_results is pipeline.load_results
    with pytest.raises(AttributeError):
        xstilts.no_such_function  # noqa: B018
