"""The one safe writer: whole files or nothing, and a directory written once."""

import pytest

from xstilts.core.files import atomic_path, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a" / "results.parquet"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.parquet"]
    write_text(target, "new")
    assert target.read_text() == "new" and len(list(target.parent.iterdir())) == 1


def test_a_directory_written_by_another_process_first_stands(tmp_path):
    target = tmp_path / "encoder"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "config.json").write_text("first")
    with atomic_path(target, directory=True) as tmp:  # a second writer of the same content-addressed dir
        (tmp / "config.json").write_text("second")
    assert (target / "config.json").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder"]


def test_a_file_replace_that_fails_is_an_error(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("")
    with pytest.raises(OSError):
        write_text(tmp_path / "x", "a file cannot replace a non-empty directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_a_run_directory_pickled_before_storage_moved_to_core_still_loads(tmp_path):
    """Searcher states that Ray pickled name xstilts.tasks.storage.Location: a sweep started before the move
    resumes."""
    import pickle

    from xstilts.core.storage import location
    from xstilts.search.rundir import RunDir

    data = pickle.dumps(RunDir(tmp_path / "run"), protocol=0)  # text: module paths are plain lines
    old = data.replace(b"xstilts.core.storage", b"xstilts.tasks.storage")
    assert old != data
    assert pickle.loads(old) == RunDir(tmp_path / "run") and location(tmp_path).local
