import pytest

from xstilts.tasks.registry import XNLI_LANGS, UnknownNameError, build_registry, get_task


def test_registry_declares_the_first_slice():
    reg = build_registry()
    assert reg["mnli"].role == "intermediate" and reg["none"].role == "intermediate"
    assert reg["xnli"].role == "target"
    assert reg["xnli"].eval_langs == XNLI_LANGS and len(XNLI_LANGS) == 15
    assert reg["mnli"].labels == ("entailment", "neutral", "contradiction")
    assert reg["mnli"].hub.dataset_id == "nyu-mll/glue" and reg["mnli"].hub.config == "mnli"


def test_unknown_task_names_near_matches():
    with pytest.raises(UnknownNameError) as err:
        get_task(build_registry(), "mlni", role="intermediate")
    msg = str(err.value)
    assert "Unknown intermediate task 'mlni'" in msg and "Did you mean 'mnli'" in msg
    assert "Available: mnli, none" in msg


def test_role_filter_rejects_a_task_of_the_other_role():
    with pytest.raises(UnknownNameError):
        get_task(build_registry(), "xnli", role="intermediate")


def test_duplicate_declaration_is_an_error():
    reg = build_registry()
    with pytest.raises(ValueError, match="declared twice"):
        build_registry((reg["mnli"], reg["mnli"]))
