"""The world's grammar without writing a world: each language's forms of the concepts."""

from xstilts.tasks.world_grammar import CONCEPTS, build_lexicon


def test_languages_share_some_forms_and_scripts_differ():
    en, de, ru = (build_lexicon(lang, 0) for lang in ("en", "de", "ru"))
    shared_de = sum(en[c] == de[c] for c in CONCEPTS) / len(CONCEPTS)
    assert 0.3 < shared_de < 0.8  # Latin script: some cognates, not all
    assert sum(en[c] == ru[c] for c in CONCEPTS) == 0  # Cyrillic shares only digits
    assert any("\u0400" <= ch <= "\u04ff" for ch in ru["dog"])
