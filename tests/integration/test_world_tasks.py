"""Every task of the offline world: exact hub schemas, loadable, consistent across languages and scripts
(tests/integration/test_world_rules.py checks that the labels are learnable)."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.helpers.columns import INTERNAL
from tests.helpers.world import REG, SPEC, english, meaning, rows
from xstilts.tasks.languages import ISO3, JOSHI_CLASS, LANG_NAME, SCRIPT
from xstilts.tasks.loading import DataSource, load_split, local_paths, read_bucc
from xstilts.tasks.registry import NER, UPOS
from xstilts.tasks.world import write_world
from xstilts.tasks.world_grammar import (
    ALL_CONCEPTS,
    CCG_TAGS,
)
from xstilts.tasks.world_spec import WORLD_TASKS, WorldSpec

pytestmark = pytest.mark.integration
TARGETS = tuple(t for t in WORLD_TASKS if REG[t].role == "target")
HUB_ROWS = json.loads((Path(__file__).parents[1] / "fixtures" / "hub_rows.json").read_text())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_world(SPEC, tmp_path_factory.mktemp("world"), REG)


# -- schemas and loading ----------------------------------------------------------------------------------
@pytest.mark.parametrize("task", WORLD_TASKS)
def test_every_task_loads_into_its_kind_s_columns(root, tmp_path, task):
    spec, src = REG[task], DataSource("local", root, tmp_path / "hf")
    for split in spec.sources:
        lang = "en" if split == "train" else next(x for x in SPEC.languages[::-1] if x in spec.eval_langs)
        if task == "bucc2018":
            xx, en, gold = read_bucc(root, spec, split, lang)
            assert len(gold) == SPEC.target_dev and len(xx) == len(en) == SPEC.target_dev * 3 // 2
            continue
        ds = load_split(spec, split, lang, src)
        assert INTERNAL[spec.kind] <= set(ds.column_names) and len(ds) > 0, (task, split, ds.column_names)


# the local file holding rows of each data set of tests/fixtures/hub_rows.json
FIXTURE_FILES = {
    "facebook/anli": "facebook/anli/plain_text/train_r2.jsonl",
    "tau/commonsense_qa": "tau/commonsense_qa/train.jsonl",
    "allenai/cosmos_qa": "allenai/cosmos_qa/validation.jsonl",
    "Rowan/hellaswag": "Rowan/hellaswag/train.jsonl",
    "nyu-mll/glue/mnli": "nyu-mll/glue/mnli/train.jsonl",
    "nyu-mll/glue/qqp": "nyu-mll/glue/qqp/train.jsonl",
    "nyu-mll/glue/sst2": "nyu-mll/glue/sst2/validation.jsonl",
    "rajpurkar/squad_v2": "rajpurkar/squad_v2/train.jsonl",
    "rajpurkar/squad": "rajpurkar/squad/train.jsonl",
    "facebook/xnli": "facebook/xnli/ru/test.jsonl",
    "google-research-datasets/paws-x": "google-research-datasets/paws-x/zh/test.jsonl",
    "google/xtreme/udpos": "google/xtreme/udpos.Arabic/validation.jsonl",
    "google/xtreme/PAN-X": "google/xtreme/PAN-X.sw/test.jsonl",
    "google/xtreme/tatoeba": "google/xtreme/tatoeba.cmn/validation.jsonl",
    "google/xquad": "google/xquad/xquad.ru/validation.jsonl",
    "facebook/mlqa": "facebook/mlqa/mlqa.zh.zh/test.jsonl",
    "google-research-datasets/tydiqa": "google-research-datasets/tydiqa/secondary_task/validation.jsonl",
}


def fits(value, hub) -> bool:
    """Same type as the hub's value, recursively (dict keys, list elements)."""
    if isinstance(hub, dict):
        return isinstance(value, dict) and set(value) == set(hub) and all(fits(value[k], hub[k]) for k in hub)
    if isinstance(hub, list):
        return isinstance(value, list) and (not hub or all(fits(v, hub[0]) for v in value))
    return type(value) is type(hub)


@pytest.mark.parametrize("dataset", sorted(FIXTURE_FILES))
def test_raw_files_have_the_exact_hub_columns_and_types(root, dataset):
    ours = rows(root / FIXTURE_FILES[dataset])
    hub = HUB_ROWS[dataset][0]
    for row in ours[:20]:
        assert set(row) == set(hub), (dataset, list(row))
        assert all(fits(row[k], hub[k]) for k in hub), (dataset, row)


def test_special_forms_of_the_hub(root):
    tatoeba = rows(root / "google/xtreme/tatoeba.rus/validation.jsonl")
    assert all(r["source_sentence"].endswith("\n") and r["target_sentence"].endswith("\n") for r in tatoeba)
    assert {(r["source_lang"], r["target_lang"]) for r in tatoeba} == {("rus", "eng")}
    hella = english(root, "hellaswag", "train")
    assert all(isinstance(r["label"], str) and r["ctx"] == f"{r['ctx_a']} {r['ctx_b']}" for r in hella)
    csqa = english(root, "commonsense_qa", "dev")
    assert all(r["choices"]["label"] == list("ABCDE") and r["answerKey"] in "ABCDE" for r in csqa)
    assert sorted(p.name for p in (root / "facebook/anli/plain_text").iterdir()) == [
        "dev_r1.jsonl",
        "dev_r2.jsonl",
        "dev_r3.jsonl",
        "train_r1.jsonl",
        "train_r2.jsonl",
        "train_r3.jsonl",
    ]
    tydi = rows(root / "google-research-datasets/tydiqa/secondary_task/validation.jsonl")
    names = {LANG_NAME[x].lower() for x in SPEC.languages if x in REG["tydiqa"].eval_langs}
    assert {r["id"].split("-")[0] for r in tydi} == names == {"english", "russian", "arabic", "swahili"}
    assert {r["id"].split("-")[0] for r in english(root, "tydiqa", "train")} == {"english"}
    assert not (root / "google-research-datasets/paws-x/de/train.jsonl").exists()  # English training only


def test_qa_answers_sit_at_their_offsets(root):
    files = [
        p
        for pattern in (
            "rajpurkar/*/*.jsonl",
            "google/xquad/*/*.jsonl",
            "facebook/mlqa/*/*.jsonl",
            "google-research-datasets/tydiqa/*/*.jsonl",
        )
        for p in root.glob(pattern)
    ]
    assert len(files) == 3 + 5 + 4 * 2 + 2  # SQuAD 2.0 and 1.1, XQuAD, MLQA and TyDiQA in the spec's languages
    for path in files:
        for r in rows(path):
            for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
                assert text and r["context"][start : start + len(text)] == text, (path, r)
            assert "squad_v2" in str(path) or r["answers"]["text"], path  # only SQuAD 2.0 is unanswerable
    squad2 = english(root, "squad_v2", "train")
    share = sum(not r["answers"]["text"] for r in squad2) / len(squad2)
    assert 0.2 < share < 0.45


def test_tags_are_in_range_and_cover_the_inventory(root):
    for path in root.glob("google/xtreme/udpos.*/*.jsonl"):
        for r in rows(path):
            assert len(r["tokens"]) == len(r["pos_tags"]) and all(0 <= t < len(UPOS) for t in r["pos_tags"])
    seen = Counter()
    for path in root.glob("google/xtreme/PAN-X.*/*.jsonl"):
        lang = path.parent.name.split(".")[1]
        for r in rows(path):
            assert len(r["tokens"]) == len(r["ner_tags"]) and r["langs"] == [lang] * len(r["tokens"])
            assert all(0 <= t < len(NER) for t in r["ner_tags"])
            seen.update(NER[t] for t in r["ner_tags"])
    assert set(seen) == set(NER)
    inventory = json.loads((root / "ccgbank/tags_to_id.json").read_text())
    assert list(inventory) == list(CCG_TAGS)
    for split in ("train", "dev", "test"):
        for line in (root / f"ccgbank/{split}.txt").read_text().splitlines():
            tokens, tags = (part.split(" ") for part in line.split("\t"))
            assert len(tokens) == len(tags) and set(tags) <= set(inventory)
    assert r"(S\NP)/NP" in inventory and "NP/N" in inventory


# -- languages ---------------------------------------------------------------------------------------------
SCRIPT_RANGES = {
    "cyrillic": (0x400, 0x4FF),
    "greek": (0x370, 0x3FF),
    "arabic": (0x600, 0x6FF),
    "devanagari": (0x900, 0x97F),
    "bengali": (0x980, 0x9FF),
    "tamil": (0xB80, 0xBFF),
    "telugu": (0xC00, 0xC7F),
    "malayalam": (0xD00, 0xD7F),
    "thai": (0xE00, 0xE7F),
    "hebrew": (0x590, 0x5FF),
    "georgian": (0x10A0, 0x10FF),
    "myanmar": (0x1000, 0x109F),
    "hangul": (0x3130, 0x318F),
    "kana": (0x30A0, 0x30FF),
    "han": (0x4E00, 0x9FFF),
}


def in_script(text: str, lang: str) -> bool:
    """The text has a character of the language's script (Latin: a word of its own, not an English one)."""
    if SCRIPT[lang] == "latin":
        return any(w.isalpha() and w.isascii() and w not in ALL_CONCEPTS for w in text.split())
    low, high = SCRIPT_RANGES[SCRIPT[lang]]
    return any(low <= ord(ch) <= high for ch in text)


def target_texts(root: Path, task: str, lang: str) -> list[str]:
    """Every text of one target task's test split in one language."""
    if task == "bucc2018":
        src, _, gold = read_bucc(root, REG[task], "test", lang)
        return list(src.values()) if gold else []
    found = [r for p in local_paths(root, REG[task], "test", lang) if p.is_file() for r in rows(p)]
    if task == "tydiqa":
        found = [r for r in found if r["id"].startswith(LANG_NAME[lang].lower() + "-")]
    keys = ("premise", "sentence1", "tokens", "context", "question", "source_sentence")
    return [" ".join(v) if isinstance(v, list) else v for r in found for k, v in r.items() if k in keys]


def test_every_target_language_is_generated_in_its_script(tmp_path):
    spec = WorldSpec(
        languages=tuple(JOSHI_CLASS), tasks=TARGETS, target_train=5, target_dev=5, target_test=8, text_class5=40
    )
    root = write_world(spec, tmp_path, REG)
    for task in TARGETS:
        for lang in REG[task].eval_langs:
            texts = target_texts(root, task, lang)
            assert texts and (lang == "en" or in_script(" ".join(texts), lang)), (task, lang)
    for lang in JOSHI_CLASS:  # unlabelled text for every language, less of it where resources are scarce
        assert in_script((root / f"text/{lang}.txt").read_text(), lang) or lang == "en"
    by_class = defaultdict(set)
    for lang, cls in JOSHI_CLASS.items():
        by_class[cls].add(len((root / f"text/{lang}.txt").read_text().splitlines()))
    assert all(len(n) == 1 for n in by_class.values())
    sizes = [by_class[c].pop() for c in sorted(by_class)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert not (root / "nyu-mll").exists()  # only the asked tasks


def test_spec_names_are_checked():
    with pytest.raises(ValueError, match=r"Unknown world task 'pawx'. Did you mean 'pawsx'"):
        WorldSpec(tasks=("pawx",))
    with pytest.raises(ValueError, match="Unknown language 'xx'"):
        WorldSpec(languages=("en", "xx"))


def test_translations_share_labels_and_meaning(root):
    langs = SPEC.languages
    paws = {
        x: [r["label"] for r in rows(root / f"google-research-datasets/paws-x/{x}/test.jsonl")]
        for x in langs
        if x in REG["pawsx"].eval_langs
    }
    assert len(paws) == 3 and all(v == paws["en"] for v in paws.values())
    for task, column in (("udpos", "pos_tags"), ("panx", "ner_tags")):
        tags = {
            x: [sorted(r[column]) for r in rows(local_paths(root, REG[task], "test", x)[0])]
            for x in langs
            if x in REG[task].eval_langs
        }
        assert len(tags) >= 4 and all(v == tags["en"] for v in tags.values())
    xquad = {x: rows(root / f"google/xquad/xquad.{x}/validation.jsonl") for x in ("en", "de", "ru", "zh", "ar")}
    for x, found in xquad.items():
        assert [r["id"] for r in found] == [r["id"] for r in xquad["en"]]
        assert [meaning(r["answers"]["text"][0], x) for r in found] == [
            meaning(r["answers"]["text"][0], "en") for r in xquad["en"]
        ]
    tatoeba = {
        x: rows(root / f"google/xtreme/tatoeba.{ISO3[x]}/validation.jsonl") for x in ("de", "ru", "zh", "ar", "sw")
    }
    assert len({tuple(r["target_sentence"] for r in found) for found in tatoeba.values()}) == 1
