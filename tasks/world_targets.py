"""The offline world's target tasks: an English training set each, and dev/test sets of one list of items
rendered in every language of the spec that the task evaluates, as XTREME's translated sets are."""

from __future__ import annotations

from collections.abc import Callable

from xstilts.tasks.languages import ISO3, LANG_NAME
from xstilts.tasks.registry import NER, UPOS
from xstilts.tasks.world_grammar import (
    distinct_frames,
    make_pair,
    ner_tags,
    pos_tags,
    render,
    render_words,
    sentence_key,
    tagging_frame,
)
from xstilts.tasks.world_spec import Files, World
from xstilts.tasks.world_tasks import nli_rows, paraphrase_pair, qa_item, qa_row


def _translated(
    world: World, task: str, sample: Callable, row: Callable, splits: tuple[tuple[str, int], ...] | None = None
) -> Files:
    """An English train set, and dev/test sets of one list of items rendered in every language of the task;
    sample(rng) -> item, row(item, lexicon, lang, i) -> hub row. A split's random stream is keyed by the task
    and its file's name (the hub's split name)."""
    spec = world.spec
    splits = splits or (("train", spec.target_train), ("dev", spec.target_dev), ("test", spec.target_test))
    files = {}
    for split, n in splits:
        rng = world.rng(task, world.path(task, split).stem)
        items = [sample(rng) for _ in range(n)]
        for lang in ["en"] if split == "train" else world.languages(task):
            files[world.path(task, split, lang)] = [
                row(item, world.lexicons[lang], lang, i) for i, item in enumerate(items)
            ]
    return files


def xnli(world: World) -> Files:
    """XNLI dev/test are one set of frames rendered in every language, as XNLI is translated; train is English."""
    spec, files = world.spec, {}
    for split, n in (("dev", spec.target_dev), ("test", spec.target_test)):
        name = world.path("xnli", split).stem
        pairs = [make_pair(world.rng("xnli", name, i)) for i in range(n)]
        for lang in world.languages("xnli"):
            lex = world.lexicons[lang]
            files[world.path("xnli", split, lang)] = [
                {"premise": render(p, lex, lang), "hypothesis": render(h, lex, lang), "label": y} for p, h, y in pairs
            ]
    train = world.path("xnli", "train")
    files[train] = nli_rows(world.rng("xnli", train.stem), spec.target_train, world.lexicons["en"], "en")
    return files


def pawsx(world: World) -> Files:
    return _translated(
        world,
        "pawsx",
        lambda rng: paraphrase_pair(rng, question=False, entities=True),
        lambda item, lx, lang, i: {
            "id": i + 1,
            "sentence1": render(item[0], lx, lang),
            "sentence2": render(item[1], lx, lang),
            "label": item[2],
        },
    )


def _tagged(world: World, task: str) -> Files:
    """UDPOS (tokens, pos_tags) or PAN-X (tokens, ner_tags, langs): the tags of each word's concept and role."""

    def row(frame: dict, lexicon: dict[str, str], lang: str, i: int) -> dict:
        words = render_words(frame, lexicon, lang)
        roles, tokens = [(c, r) for _, c, r in words], [w for w, _, _ in words]
        if task == "udpos":
            return {"tokens": tokens, "pos_tags": [UPOS.index(t) for t in pos_tags(roles)]}
        return {"tokens": tokens, "ner_tags": [NER.index(t) for t in ner_tags(roles)], "langs": [lang] * len(words)}

    return _translated(world, task, tagging_frame, row)


def udpos(world: World) -> Files:
    return _tagged(world, "udpos")


def panx(world: World) -> Files:
    return _tagged(world, "panx")


def _qa_target(world: World, task: str, splits: tuple[tuple[str, int], ...]) -> Files:
    """SQuAD v1.1 train (XQuAD's and MLQA's English training set) and the task's translated sets."""
    train = world.path(task, "train")
    rng = world.rng("squad", train.stem)
    rows = [
        qa_row(qa_item(rng), world.lexicons["en"], "en", world.uid("squad", i), True)
        for i in range(world.spec.target_train)
    ]
    return {
        train: rows,
        **_translated(
            world, task, qa_item, lambda item, lx, lang, i: qa_row(item, lx, lang, world.uid(task, i), False), splits
        ),
    }


def xquad(world: World) -> Files:
    """XQuAD's one set per language is both its dev and its test split (one file)."""
    return _qa_target(world, "xquad", (("test", world.spec.target_test),))


def mlqa(world: World) -> Files:
    return _qa_target(world, "mlqa", (("dev", world.spec.target_dev), ("test", world.spec.target_test)))


def tydiqa(world: World) -> Files:
    """TyDiQA-GoldP: one file per split with every language mixed, ids prefixed by the language's name; the
    dev file is also the test split."""
    spec, files = world.spec, {}
    for split, n, langs in (("train", spec.target_train, ["en"]), ("dev", spec.target_dev, world.languages("tydiqa"))):
        path = world.path("tydiqa", split)
        rng = world.rng("tydiqa", path.stem)
        items = [qa_item(rng) for _ in range(n)]
        if langs:
            files[path] = [
                qa_row(
                    item,
                    world.lexicons[lang],
                    lang,
                    f"{LANG_NAME[lang].lower()}-{world.uid('tydiqa', path.stem, i)}",
                    True,
                )
                for lang in langs
                for i, item in enumerate(items)
            ]
    return files


def tatoeba(world: World) -> Files:
    """One aligned set per language (xx -> en), lines unstripped like the hub's; it is both dev and test."""
    frames = distinct_frames(world.rng("tatoeba"), world.spec.target_test, tagging_frame, sentence_key)
    en = world.lexicons["en"]
    return {
        world.path("tatoeba", "test", lang): [
            {
                "source_sentence": render(f, world.lexicons[lang], lang) + "\n",
                "target_sentence": render(f, en, "en") + "\n",
                "source_lang": ISO3[lang],
                "target_lang": "eng",
            }
            for f in frames
        ]
        for lang in world.languages("tatoeba")
    }


def bucc2018(world: World) -> Files:
    """BUCC as XTREME downloads it: shuffled xx and en pools ('id TAB text'), half as many sentences again
    without a translation on each side, and the gold pairs of the true translations."""
    files: Files = {}
    for split, n in (("dev", world.spec.target_dev), ("test", world.spec.target_test)):
        frames = distinct_frames(world.rng("bucc", split), n + n // 2 * 2, tagging_frame, sentence_key)
        pools = {"xx": frames[: n + n // 2], "en": frames[:n] + frames[n + n // 2 :]}  # the first n: translations
        for lang in world.languages("bucc2018"):
            rng, ids = world.rng("bucc", split, lang), {}
            xx_path, en_path, gold_path = world.paths("bucc2018", split, lang)
            for side, code, path in (("xx", lang, xx_path), ("en", "en", en_path)):
                order = rng.sample(range(len(pools[side])), len(pools[side]))
                ids[side] = {k: f"{code}-{pos + 1:09d}" for pos, k in enumerate(order)}
                files[path] = [f"{ids[side][k]}\t{render(pools[side][k], world.lexicons[code], code)}" for k in order]
            files[gold_path] = sorted(f"{ids['xx'][k]}\t{ids['en'][k]}" for k in range(n))
    return files
