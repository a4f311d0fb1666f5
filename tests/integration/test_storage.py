"""Storage locations on a local filesystem and on a real S3 API (moto's server): the safe writer, directories
written whole, and the run directory's ledger on a store without append."""

import pickle

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from tests.conftest import write_experiments
from tests.helpers.cli import assert_rejected, invoke
from tests.helpers.selection import check_prune_keeps_latest_best_winners_and_unjournaled as prune_decisions
from xstilts.core.storage import COMPLETE, StorageError, check_reachable, location
from xstilts.search.ledger_files import LEDGER_OBJECTS, ledger_object_name
from xstilts.search.rundir import RunDir

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path):
    """A directory name, local or on S3 (the s3 case starts moto's server)."""
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_store").uri("prefix/store")


def test_write_read_list_on_both(where, tmp_path):
    loc = location(where)
    assert not loc.exists()
    loc.write_text("a/one.json", '{"x": 1}')
    loc.write_bytes("a/two.bin", b"\x00\x01")
    assert loc.read_text("a/one.json") == '{"x": 1}' and loc.read_bytes("a/two.bin") == b"\x00\x01"
    assert [i.base_name for i in loc.listdir("a")] == ["one.json", "two.bin"]
    assert loc.listdir("missing") == []
    assert loc.is_file("a/one.json") and not loc.is_file("a") and loc.exists()
    loc.write_text("a/one.json", "replaced")  # a whole rewrite
    assert loc.read_text("a/one.json") == "replaced"
    with loc.writing("t.parquet") as tmp:  # a library that writes a path
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"v": [1, 2]}), tmp)
    assert RunDir(loc)._read_table("t.parquet").to_pydict() == {"v": [1, 2]}
    assert pickle.loads(pickle.dumps(loc)).read_text("a/one.json") == "replaced"  # Ray ships it


def test_a_failed_write_leaves_nothing(where):
    loc = location(where)
    with pytest.raises(RuntimeError), loc.writing("x.parquet") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not loc.exists("x.parquet")


def test_directories_are_complete_only_with_their_marker(where, tmp_path):
    loc = location(where)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "sub" / "w.bin").write_bytes(b"w" * 1000)
    assert not loc.has_directory("enc")
    loc.put_directory(src, "enc")
    assert loc.has_directory("enc")
    copy = loc.get_directory("enc", tmp_path / "copy")
    assert (copy / "sub" / "w.bin").read_bytes() == b"w" * 1000 and (copy / "config.json").read_text() == "{}"
    loc.write_text("half/config.json", "{}")  # an upload interrupted before its marker
    assert not loc.has_directory("half") and loc.is_file(f"enc/{COMPLETE}")


def test_the_ledger_replays_in_order_on_both(where):
    run_dir = RunDir(where)
    for i in range(5):
        run_dir.append_event({"event": "result", "trial_id": "t", "step": i})
    assert [e["step"] for e in run_dir.read_ledger()] == list(range(5))
    assert run_dir.has_ledger()
    again = RunDir(where)  # a resumed driver continues the journal after what is there
    again.append_event({"event": "end", "trial_id": "t", "how": "complete"})
    assert [e["event"] for e in RunDir(where).read_ledger()] == ["result"] * 5 + ["end"]
    assert [e["step"] for e in pickle.loads(pickle.dumps(run_dir)).read_ledger()[:5]] == list(range(5))


def test_a_torn_or_partial_ledger_object_is_never_an_event(s3_store):
    run_dir = RunDir(s3_store.uri("runs/torn"))
    run_dir.append_event({"event": "result", "trial_id": "a", "step": 1})
    whole = b'{"event": "result", "trial_id": "b", "step": 2}'
    name = ledger_object_name(10**19, whole)  # after the first in order
    run_dir.loc.write_bytes(f"{LEDGER_OBJECTS}/{name}", whole[:20])  # the named content, cut short
    run_dir.loc.write_bytes(f"{LEDGER_OBJECTS}/{ledger_object_name(10**19 + 1, b'{}')}-x", b"{}")  # a bad name
    run_dir.loc.write_bytes(f"{LEDGER_OBJECTS}/{ledger_object_name(10**19 + 2, b'[1]')}", b"[1]")  # not an event
    assert [e["trial_id"] for e in RunDir(run_dir.uri + "?" + run_dir.loc.query).read_ledger()] == ["a"]
    assert not run_dir.local and not (run_dir.loc.listdir(LEDGER_OBJECTS)[0].base_name.endswith(".jsonl"))


def test_the_run_directory_tables_on_s3(s3_store):
    run_dir = RunDir(s3_store.uri("runs/offline"))
    run_dir.write_part([{"winner": "none", "seed": 0, "score": 1.0}], "none", "xnli", 0)
    run_dir.write_part([{"winner": "mnli@best", "seed": 0, "score": 2.0}], "mnli@best", "xnli", 0)
    assert run_dir.has_part("mnli@best", "xnli", 0) and not run_dir.has_part("mnli@best", "xnli", 1)
    assert sorted(run_dir.collect_parts()["score"].to_pylist()) == [1.0, 2.0]
    assert run_dir.has_evaluation() and len(run_dir.read_evaluation()) == 2
    run_dir.write_winners([{"name": "none"}], {"rule": "mean"})
    assert run_dir.read_winners() == [{"name": "none"}] and run_dir.read_winner_rule() == {"rule": "mean"}
    assert run_dir.uri == "s3://xstilts-test/runs/offline" and run_dir.name == "offline"
    assert "endpoint_override" not in run_dir.results_path  # shown without the query string
    storage, fs = run_dir.ray_storage()
    assert storage == "xstilts-test/runs" and fs is run_dir.loc.fs


def test_an_unreachable_endpoint_or_a_missing_bucket_is_one_clear_error(s3_store):
    check_reachable(location(s3_store.uri("p")))
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        check_reachable(location(s3_store.uri("p", bucket="no-such-bucket")))
    port = s3_store.endpoint.rsplit(":", 1)[1]
    dead = s3_store.uri("p").replace(f":{port}", ":1")
    with pytest.raises(StorageError, match="cannot be reached"):
        check_reachable(location(dead))
    with pytest.raises(StorageError, match="not a storage location"):
        location("nosuchscheme://bucket/p")


@pytest.mark.parametrize("case", ["missing bucket", "unreachable endpoint"])
def test_an_object_store_that_cannot_be_used(tmp_path, s3_store, case):
    uri = s3_store.uri("runs", bucket="no-such-bucket")
    if case == "unreachable endpoint":
        uri = s3_store.uri("runs").replace(s3_store.endpoint, "127.0.0.1:1")
    needle = "bucket 'no-such-bucket' does not exist" if case == "missing bucket" else "cannot be reached"
    path = write_experiments(tmp_path, {"storage_path": uri})
    assert_rejected(invoke("sweep", path), tmp_path, "offline.storage_path", needle)
    assert_rejected(invoke("evaluate", uri.replace("/runs?", "/runs/offline?")), tmp_path, needle)
    assert not s3_store.filesystem().get_file_info(pafs.FileSelector("xstilts-test", recursive=True))


def test_pruning_on_s3(s3_store):
    """The same decisions as locally (tests/unit/search/test_selection.py), on an object store."""
    run_dir = RunDir(s3_store.uri("runs/offline"))
    prune_decisions(run_dir)


def test_a_reader_gets_the_newest_segment_and_only_the_events_after_it(s3_store, monkeypatch):
    from xstilts.search import ledger_files

    monkeypatch.setattr(ledger_files, "SEGMENT_EVERY", 3)
    writer = RunDir(s3_store.uri("segments/run"))
    for step in range(8):  # segments after events 3 and 6; the first is removed when the second is written
        writer.append_event({"event": "result", "trial_id": "a", "step": step})
    assert len(writer.loc.listdir(ledger_files.LEDGER_SEGMENTS)) == 1
    reader = RunDir(s3_store.uri("segments/run"))
    fetched = []
    read = reader.loc.__class__.read_bytes
    monkeypatch.setattr(reader.loc.__class__, "read_bytes", lambda loc, rel: fetched.append(rel) or read(loc, rel))
    assert [e["step"] for e in reader.read_ledger()] == list(range(8))
    assert [rel.split("/")[0] for rel in fetched] == [ledger_files.LEDGER_SEGMENTS] + [LEDGER_OBJECTS] * 2
    writer.append_event({"event": "end", "trial_id": "a", "how": "complete"})
    assert [e["event"] for e in reader.read_ledger()][-1] == "end"  # the objects after it, still read
