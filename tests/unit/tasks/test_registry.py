import pytest

from xstilts.tasks.languages import ISO3, JOSHI_CLASS, LANG_NAME, SCRIPT
from xstilts.tasks.registry import XNLI_LANGS, UnknownNameError, build_registry, get_task

REG = build_registry()
# XTREME's TASK2LANGS (google-research/xtreme evaluate.py), written out independently of the registry.
XTREME = {
    "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh",
    "pawsx": "de en es fr ja ko zh",
    "udpos": "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh",
    "panx": "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te "
    "th tl tr ur vi yo zh",
    "xquad": "en es de el ru tr ar vi th zh hi",
    "mlqa": "en es de ar hi vi zh",
    "tydiqa": "en ar bn fi id ko ru sw te",
    "bucc2018": "de fr ru zh",
    "tatoeba": "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl "
    "tr ur vi zh",
}


def test_every_task_of_the_paper_is_declared_once():
    inter = {n for n, s in REG.items() if s.role == "intermediate"}
    assert inter == {
        "anli",
        "commonsense_qa",
        "cosmos_qa",
        "hellaswag",
        "mnli",
        "qqp",
        "squad_v2",
        "sst2",
        "ccg",
        "multitask",
        "none",
    }
    assert {n for n, s in REG.items() if s.role == "target"} == set(XTREME)
    assert set(REG["multitask"].members) == inter - {"multitask", "none"}


@pytest.mark.parametrize("task", sorted(XTREME))
def test_target_languages_are_xtreme_s_and_known(task):
    assert sorted(REG[task].eval_langs) == sorted(XTREME[task].split())
    for lang in REG[task].eval_langs:
        assert lang in JOSHI_CLASS and lang in SCRIPT and lang in LANG_NAME


def test_forty_languages_have_a_resource_class():
    langs = set().union(*(REG[t].eval_langs for t in XTREME))
    assert len(langs) == 40 and langs <= set(JOSHI_CLASS)
    assert set(REG["tatoeba"].eval_langs) <= set(ISO3)


def test_sources_of_key_tasks_follow_the_hub_ids():
    assert REG["mnli"].sources["train"].dataset_id == "nyu-mll/glue" and REG["mnli"].sources["train"].config == "mnli"
    assert REG["anli"].sources["train"].split == "train_r1+train_r2+train_r3"
    assert REG["xquad"].sources["train"].dataset_id == "rajpurkar/squad"  # XQuAD trains on SQuAD v1.1
    assert REG["udpos"].sources["dev"].config == "udpos.{lang_name}"
    assert REG["tatoeba"].sources["test"].config == "tatoeba.{iso3}"
    assert REG["tydiqa"].sources["dev"].id_prefix == "{lang_lower}-"
    assert REG["ccg"].sources["train"].local_only and REG["bucc2018"].sources["test"].local_only
    assert REG["xnli"].eval_langs == XNLI_LANGS


def test_unknown_task_names_near_matches():
    with pytest.raises(UnknownNameError) as err:
        get_task(REG, "mlni", role="intermediate")
    msg = str(err.value)
    assert "Unknown intermediate task 'mlni'" in msg and "Did you mean 'mnli'" in msg
    assert "Available: anli, ccg, commonsense_qa" in msg


def test_role_filter_rejects_a_task_of_the_other_role():
    with pytest.raises(UnknownNameError):
        get_task(REG, "xnli", role="intermediate")


def test_duplicate_declaration_is_an_error():
    with pytest.raises(ValueError, match="declared twice"):
        build_registry((REG["mnli"], REG["mnli"]))
