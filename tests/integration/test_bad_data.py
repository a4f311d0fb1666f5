"""Bad data files: one line naming the file and what is wrong; exit status 2; nothing written."""

import shutil

import pytest

from tests.conftest import write_experiments
from tests.unit.search.test_bad_input import assert_rejected, invoke

pytestmark = pytest.mark.integration


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


def test_missing_data_file(tmp_path, local_copy):
    (local_copy / "facebook/xnli/ur/validation.jsonl").unlink()
    path = write_experiments(tmp_path, {"source": str(local_copy)})
    assert_rejected(invoke("sweep", path), tmp_path, "facebook/xnli/ur/validation.jsonl", "file not found")


def test_unreadable_data_file(tmp_path, local_copy):
    (local_copy / "nyu-mll/glue/mnli/train.jsonl").write_text('{"premise": "a", "hypothesis": \n')
    path = write_experiments(tmp_path, {"source": str(local_copy)})
    assert_rejected(invoke("sweep", path), tmp_path, "nyu-mll/glue/mnli/train.jsonl", "unreadable")


def test_label_out_of_range(tmp_path, local_copy):
    (local_copy / "facebook/xnli/de/validation.jsonl").write_text('{"premise": "a b", "hypothesis": "a", "label": 7}\n')
    path = write_experiments(tmp_path, {"source": str(local_copy)})
    assert_rejected(invoke("sweep", path), tmp_path, "facebook/xnli/de/validation.jsonl", "label 7 outside 0..2")
