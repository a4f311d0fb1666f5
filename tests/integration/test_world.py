import json
from collections import Counter

import pytest

from tests.helpers.world import SMALL
from xstilts.tasks.loading import DataError, DataSource, load_split, local_paths
from xstilts.tasks.registry import build_registry
from xstilts.tasks.world import verify_world, write_world
from xstilts.tasks.world_spec import WORLD_TASKS, WorldSpec

pytestmark = pytest.mark.integration
REG = build_registry()


def test_world_is_seeded_and_written_once(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    again = write_world(SMALL, tmp_path, REG)
    assert root == again
    other = write_world(WorldSpec(**{**SMALL.__dict__, "seed": 4}), tmp_path, REG)
    assert (root / "facebook/xnli/de/validation.jsonl").read_text() != (
        other / "facebook/xnli/de/validation.jsonl"
    ).read_text()
    manifest = verify_world(root)
    assert manifest["digest"] == SMALL.digest()


# A process that writes SMALL's world into argv[1], each build slowed by 3 s and counted in argv[1]/calls.
WRITER = r"""
import sys, time
from pathlib import Path
import xstilts.tasks.world as world
from xstilts.tasks.registry import build_registry
from xstilts.tasks.world_spec import WorldSpec

original = world._world_files
def counted(spec, registry):
    with open(Path(sys.argv[1]) / "calls", "a") as f:
        f.write("x")
    time.sleep(3)  # a fixed wait is right: a long build lets the other process arrive during it; pass or not, no race
    return original(spec, registry)
world._world_files = counted
spec = WorldSpec(seed=3, languages=("en", "de", "ru", "sw"), intermediate_train=60, intermediate_dev=20,
                 target_train=30, target_dev=20, target_test=20, text_class5=80)
print(world.write_world(spec, Path(sys.argv[1]), build_registry()))
"""


def test_processes_preparing_one_cache_at_once_build_the_world_once(tmp_path):
    import subprocess
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    roots = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert (tmp_path / "calls").read_text() == "x", "both processes built the world"
    assert roots == {str(tmp_path / f"world-{SMALL.digest()}")}
    assert verify_world(tmp_path / f"world-{SMALL.digest()}")["digest"] == SMALL.digest()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "a temporary copy left behind"


def test_tampered_file_fails_the_checksum(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    (root / "nyu-mll/glue/mnli/train.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="checksum"):
        write_world(SMALL, tmp_path, REG)


def test_files_have_the_exact_hub_schemas(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    mnli = [json.loads(x) for x in (root / "nyu-mll/glue/mnli/train.jsonl").read_text().splitlines()]
    assert set(mnli[0]) == {"premise", "hypothesis", "label", "idx"}
    assert {r["label"] for r in mnli} == {0, 1, 2}
    for lang in SMALL.languages:
        row = json.loads((root / f"facebook/xnli/{lang}/test.jsonl").read_text().splitlines()[0])
        assert set(row) == {"premise", "hypothesis", "label"}
    assert (root / "facebook/xnli/en/train.jsonl").is_file()
    assert not (root / "facebook/xnli/de/train.jsonl").exists()  # English-only training


def test_translated_dev_sets_share_labels_across_languages(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    labels = {
        lang: [
            json.loads(x)["label"] for x in (root / f"facebook/xnli/{lang}/validation.jsonl").read_text().splitlines()
        ]
        for lang in SMALL.languages
    }
    assert labels["en"] == labels["de"] == labels["ru"] == labels["sw"]


def test_low_resource_languages_get_less_text(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    n = {lang: len((root / f"text/{lang}.txt").read_text().splitlines()) for lang in SMALL.languages}
    assert n["en"] == n["de"] > n["ru"] > n["sw"] > 0


def test_mnli_labels_are_balanced_enough(tmp_path):
    root = write_world(WorldSpec(intermediate_train=600, languages=("en", "de")), tmp_path, REG)
    counts = Counter(json.loads(x)["label"] for x in (root / "nyu-mll/glue/mnli/train.jsonl").read_text().splitlines())
    assert min(counts.values()) > 150


def test_loaded_through_datasets_json_with_internal_columns(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    reg = build_registry()
    ds = load_split(reg["xnli"], "dev", "ru", DataSource("local", root, tmp_path / "hf"))
    assert ds.column_names == ["text_a", "text_b", "label"] and len(ds) == 20


def test_missing_and_unreadable_files_name_the_path(tmp_path):
    root = write_world(SMALL, tmp_path, REG)
    reg = build_registry()
    src = DataSource("local", root, tmp_path / "hf")
    with pytest.raises(DataError, match="xnli/fr/validation.jsonl: file not found"):
        load_split(reg["xnli"], "dev", "fr", src)
    local_paths(root, reg["xnli"], "dev", "de")[0].write_text("{not json\n")
    with pytest.raises(DataError, match="validation.jsonl: line 1: not valid JSON"):
        load_split(reg["xnli"], "dev", "de", src)
    local_paths(root, reg["xnli"], "dev", "sw")[0].write_text('{"premise": "a", "label": 1}\n')
    with pytest.raises(DataError, match=r"missing column\(s\) \['hypothesis'\]"):
        load_split(reg["xnli"], "dev", "sw", src)


# sha256 (first 16 hex) of files written by generator 2: the other tasks must not change MNLI/XNLI
GENERATOR_2 = {
    "nyu-mll/glue/mnli/train.jsonl": "e4d34acbadf0efbc",
    "nyu-mll/glue/mnli/validation_matched.jsonl": "77b90a8ef57d3c00",
    "facebook/xnli/ru/validation.jsonl": "350afb291a6f86b1",
    "facebook/xnli/sw/test.jsonl": "8f5b2bb60282987c",
    "facebook/xnli/en/train.jsonl": "0701cc6f3b220fa9",
}


def test_mnli_and_xnli_bytes_are_those_of_generator_2(tmp_path):
    import hashlib

    root = write_world(SMALL, tmp_path, REG)
    for rel, digest in GENERATOR_2.items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest()[:16] == digest, rel
    text = (root / "text/ru.txt").read_text().splitlines()
    assert len(text) == 40 + 10  # generator 2's 40 lines, then a quarter more with the newer tasks' words
    assert hashlib.sha256(("\n".join(text[:40]) + "\n").encode()).hexdigest()[:16] == "79c29ca0599a0889"


def test_default_spec_generates_every_task_and_a_subset_only_its_own(tmp_path):
    reg = build_registry()
    assert set(WorldSpec().tasks) == {n for n, s in reg.items() if s.sources} and len(WORLD_TASKS) == 18
    root = write_world(WorldSpec(**{**SMALL.__dict__, "tasks": ("pawsx", "tatoeba")}), tmp_path, REG)
    files = set(verify_world(root)["files"])
    assert {f.split("/")[0] for f in files} == {"google-research-datasets", "google", "text"}
    assert "google-research-datasets/paws-x/de/test.jsonl" in files  # de: a PAWS-X language of the spec
    assert not any("/ru/" in f or "/sw/" in f for f in files if "paws-x" in f)  # not PAWS-X languages
    assert {f"text/{lang}.txt" for lang in SMALL.languages} <= files


# The same for the offline encoder: a process running prepare_encoder into argv[1]/encoder, its build (the MLM
# pretraining) replaced by a 3 s stand-in that writes what a build writes and is counted in argv[1]/calls.
ENCODER_WRITER = r"""
import sys, time
from pathlib import Path
import xstilts.models.pretrain as pretrain

def stand_in(text_files, out_dir, cfg, device):
    with open(Path(sys.argv[1]) / "calls", "a") as f:
        f.write("x")
    time.sleep(3)  # a fixed wait is right: a long build lets the other process arrive during it; pass or not, no race
    out_dir.mkdir(parents=True)
    (out_dir / "encoder.json").write_text("{}")
pretrain._build_encoder = stand_in
print(pretrain.prepare_encoder([], Path(sys.argv[1]) / "encoder", pretrain.EncoderConfig()))
"""


def test_processes_preparing_one_cache_at_once_build_the_encoder_once(tmp_path):
    import subprocess
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", ENCODER_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and outs == {str(tmp_path / "encoder")}
    assert (tmp_path / "calls").read_text() == "x", "both processes built the encoder"
