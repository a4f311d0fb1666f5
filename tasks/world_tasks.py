"""The offline world's intermediate tasks (English), each in its data set's exact hub schema; labels follow from
the text by simple rules. The NLI, paraphrase and SQuAD rows are reused by the target tasks."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable

from xstilts.tasks.world_grammar import (
    ADJECTIVES,
    AGENTS,
    ANTONYM,
    CCG_TAGS,
    HEADS,
    OBJECTS,
    PLACES,
    VERBS,
    ccg_tags,
    distinct_frames,
    drop_modifiers,
    fact_frame,
    heads,
    make_pair,
    parts,
    render,
    render_words,
    sample_frame,
    sample_rich_frame,
    tagging_frame,
    world_facts,
)
from xstilts.tasks.world_spec import Files, World

POSITIVE = ("loves", "likes", "accepts", "happy", "good", "wonderful")
NEGATIVE = ("hates", "dislikes", "refuses", "tired", "bad", "terrible")


def _intermediate(world: World, task: str, row: Callable[..., dict]) -> Files:
    """English train and dev rows of an intermediate task; row(rng, uid, i, split) -> one hub row. A split's
    random stream and ids are keyed by its file's folder and name (the hub id and the hub's split name)."""
    files = {}
    for split, n in (("train", world.spec.intermediate_train), ("dev", world.spec.intermediate_dev)):
        path = world.path(task, split)
        key = (path.parent.as_posix(), path.stem)
        rng = world.rng(*key)
        files[path] = [row(rng, world.uid(*key, i), i, split) for i in range(n)]
    return files


# -- rows the target tasks reuse ---------------------------------------------------------------------------
def nli_rows(rng: random.Random, n: int, lexicon: dict[str, str], lang: str) -> list[dict]:
    """MNLI's and XNLI's rows: premise, hypothesis, label."""
    rows = []
    for _ in range(n):
        premise, hyp, label = make_pair(rng)
        rows.append(
            {"premise": render(premise, lexicon, lang), "hypothesis": render(hyp, lexicon, lang), "label": label}
        )
    return rows


def paraphrase_pair(rng: random.Random, question: bool, entities: bool) -> tuple[dict, dict, int]:
    """PAWS's idea: a paraphrase moves the place phrase or drops adjectives; a non-paraphrase swaps subject
    and object, so both have (nearly) the same words."""
    f = distinct_frames(rng, 1, lambda r: sample_rich_frame(r, entities=entities, animate=True), heads)[0]
    f.update(num=None, front=rng.random() < 0.5, place=f["place"] or (rng.choice(("in", "near")), rng.choice(PLACES)))
    if question:
        f.update(wh=rng.choice(("subj", "obj")), end="?")
    label = rng.randrange(2)
    g = dict(f, front=rng.random() < 0.5)
    if label == 0:
        g.update(subj=f["obj"], obj=f["subj"], subj_adj=f["obj_adj"], obj_adj=f["subj_adj"])
        if question:  # the question word stays with its concept
            g["wh"] = "obj" if f["wh"] == "subj" else "subj"
    elif g["front"] == f["front"] or rng.random() < 0.5:
        g.update(subj_adj=None, obj_adj=None)
        if parts(g, False) == parts(f, False):
            g["front"] = not f["front"]
    return f, g, label


def qa_item(rng: random.Random, unanswerable: float = 0.0) -> tuple[list[dict], int, dict, str | None]:
    """Context frames, the asked frame's index, the question (wh in situ) and the asked role (None: unanswerable)."""
    context = distinct_frames(rng, rng.choice((2, 3)), lambda r: sample_rich_frame(r, entities=True), heads)
    j = rng.randrange(len(context))
    role = rng.choice(HEADS if context[j]["place"] else HEADS[:2])
    question = dict(context[j], wh=role, end="?")
    if rng.random() < 0.5:
        question.update(subj_adj=None, obj_adj=None)
    if rng.random() >= unanswerable:
        return context, j, question, role
    if rng.random() < 0.5:  # SQuAD 2.0's adversarial unanswerables: the context never says this
        question["verb"] = ANTONYM[question["verb"]]
    else:
        other = "obj" if role == "subj" else "subj"
        used = {c for frame in context for c in heads(frame)}
        question.update({other: rng.choice([a for a in AGENTS if a not in used]), f"{other}_adj": None})
    return context, j, question, None


def qa_row(item: tuple, lexicon: dict[str, str], lang: str, qid: str, title: bool) -> dict:
    """SQuAD's schema; the answer is the asked head's words, at its character offset in the context."""
    context, j, question, role = item
    sentences: list[str] = []
    start, answer = 0, ""
    for k, frame in enumerate(context):
        words = render_words(frame, lexicon, lang)
        text = " ".join(w for w, _, _ in words)
        if k == j and role:
            starts = [0, *itertools.accumulate(len(w) + 1 for w, _, _ in words)]
            span = [(starts[n], starts[n] + len(w)) for n, (w, _, r) in enumerate(words) if r == role]
            start, answer = sum(len(s) + 1 for s in sentences) + span[0][0], text[span[0][0] : span[-1][1]]
        sentences.append(text)
    titled = {"title": " ".join(w for w, _, r in render_words(context[0], lexicon, lang) if r == "subj")}
    return {
        "id": qid,
        **(titled if title else {}),
        "context": " ".join(sentences),
        "question": render(question, lexicon, lang),
        "answers": {"text": [answer] if role else [], "answer_start": [start] if role else []},
    }


# -- the intermediate tasks ----------------------------------------------------------------------------------
def mnli(world: World) -> Files:
    """One random stream for train, then dev (MNLI's bytes are those of generator 2)."""
    rng = world.rng("mnli")
    files = {}
    for split, n in (("train", world.spec.intermediate_train), ("dev", world.spec.intermediate_dev)):
        rows = nli_rows(rng, n, world.lexicons["en"], "en")
        files[world.path("mnli", split)] = [dict(r, idx=i) for i, r in enumerate(rows)]
    return files


def _anli_row(rng: random.Random, distractors: int, en: dict[str, str], uid: str) -> dict:
    """MNLI's pair, with the premise hidden among other sentences (more of them in later rounds)."""
    premise, hyp, label = make_pair(rng)
    context, avoid = [premise], {premise["subj"], hyp["subj"]}
    while len(context) <= distractors:
        frame = sample_frame(rng)
        if frame["subj"] not in avoid:
            context.append(frame)
            avoid.add(frame["subj"])
    rng.shuffle(context)
    return {
        "uid": uid,
        "premise": " ".join(render(dict(f, end="."), en, "en") for f in context),
        "hypothesis": render(dict(hyp, end="."), en, "en"),
        "label": label,
        "reason": "",
    }


def anli(world: World) -> Files:
    """One file per round and split; the rounds grow (train split 1:2:3) and so do their contexts."""
    spec, files = world.spec, {}
    for split in ("train", "dev"):
        for r, path in enumerate(world.paths("anli", split), 1):  # the parts of 'x_r1+x_r2+x_r3', in order
            n = spec.intermediate_train * r // 6 if split == "train" else spec.intermediate_dev // 3
            rng = world.rng("anli", path.stem)
            files[path] = [_anli_row(rng, r, world.lexicons["en"], world.uid("anli", path.stem, i)) for i in range(n)]
    return files


def commonsense_qa(world: World) -> Files:
    """Questions on the world's facts (where an agent usually is, what it uses); four wrong choices."""
    facts, en = world_facts(world.spec.seed), world.lexicons["en"]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        agent = rng.choice(AGENTS)
        ask_place = rng.random() < 0.5
        question = dict(fact_frame(agent, facts), wh="place" if ask_place else "obj", end="?")
        question["place"] = question["place"] if ask_place else None
        answer, pool = (facts[agent][1], PLACES) if ask_place else (facts[agent][0], OBJECTS)
        choices = rng.sample([x for x in pool if x != answer], 4) + [answer]
        rng.shuffle(choices)
        return {
            "id": uid,
            "question": render(question, en, "en"),
            "question_concept": agent,
            "choices": {"label": list("ABCDE"), "text": choices},
            "answerKey": "ABCDE"[choices.index(answer)],
        }

    return _intermediate(world, "commonsense_qa", row)


def _false_statement(frame: dict, rng: random.Random, used: set[str]) -> dict:
    """The frame with the opposite verb, negated, with subject and object swapped, or with another object."""
    return rng.choice(
        [
            dict(frame, verb=ANTONYM[frame["verb"]]),
            dict(frame, neg=rng.choice(("not", "never"))),
            dict(
                frame,
                subj=frame["obj"],
                obj=frame["subj"],
                subj_adj=frame["obj_adj"],
                obj_adj=frame["subj_adj"],
                num=None,
            ),
            dict(frame, obj=rng.choice([o for o in OBJECTS if o not in used])),
        ]
    )


def cosmos_qa(world: World) -> Files:
    """'what is true ?' about a short story: one statement it says, three it contradicts or never says."""
    en = world.lexicons["en"]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        context = distinct_frames(rng, rng.choice((2, 3)), sample_rich_frame, heads)
        used = {c for frame in context for c in heads(frame)}
        statements = [drop_modifiers(rng.choice(context), rng)]
        while len(statements) < 4:
            statements.append(drop_modifiers(_false_statement(rng.choice(context), rng, used), rng))
        order = rng.sample(range(4), 4)
        return {
            "id": uid,
            "context": " ".join(render(f, en, "en") for f in context),
            "question": "what is true ?",
            **{f"answer{k}": render(statements[j], en, "en") for k, j in enumerate(order)},
            "label": order.index(0),
        }

    return _intermediate(world, "cosmos_qa", row)


def hellaswag(world: World) -> Files:
    """What happens next: the world's events come in pairs (buys, then sells), about the same object."""
    en = world.lexicons["en"]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        frame = sample_rich_frame(rng)
        follow = ANTONYM[frame["verb"]]
        obj2 = rng.choice([o for o in OBJECTS if o != frame["obj"]])
        verb2, verb3 = rng.sample([v for v in VERBS if v not in (follow, frame["verb"])], 2)
        then = dict(frame, subj_adj=None, obj_adj=None, num=None, place=None, hedge="then")
        k = [role for _, role in parts(then, False)].index("verb")
        words = [
            render(dict(then, verb=v, obj=o), en, "en").split(" ")
            for v, o in ((follow, frame["obj"]), (follow, obj2), (verb2, frame["obj"]), (verb3, obj2))
        ]
        order = rng.sample(range(4), 4)
        ctx_a, ctx_b = render(frame, en, "en"), " ".join(words[0][:k])
        return {
            "ind": i,
            "activity_label": frame["verb"].capitalize(),
            "ctx_a": ctx_a,
            "ctx_b": ctx_b,
            "ctx": f"{ctx_a} {ctx_b}",
            "endings": [" ".join(words[j][k:]) for j in order],
            "source_id": f"world~{uid[:8]}",
            "split": "train" if split == "train" else "val",
            "split_type": "indomain",
            "label": str(order.index(0)),
        }

    return _intermediate(world, "hellaswag", row)


def qqp(world: World) -> Files:
    en = world.lexicons["en"]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        q1, q2, label = paraphrase_pair(rng, question=True, entities=False)
        return {"question1": render(q1, en, "en"), "question2": render(q2, en, "en"), "label": label, "idx": i}

    return _intermediate(world, "qqp", row)


def sst2(world: World) -> Files:
    """Sentiment of one cue word (loves/hates, happy/tired, ...), flipped by a negation."""
    en = world.lexicons["en"]
    neutral_verbs = [v for v in VERBS if v not in POSITIVE + NEGATIVE]
    neutral_adjs = [a for a in ADJECTIVES if a not in POSITIVE + NEGATIVE]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        frame = sample_rich_frame(rng, animate=True)
        frame.update(
            verb=rng.choice(neutral_verbs),
            subj_adj=None,
            obj_adj=rng.choice(neutral_adjs) if rng.random() < 0.3 else None,
        )
        polarity = rng.randrange(2)
        cue = rng.choice(POSITIVE if polarity else NEGATIVE)
        if cue in VERBS:
            frame["verb"] = cue
        elif frame["subj"] in AGENTS and rng.random() < 0.5:
            frame["subj_adj"] = cue
        else:
            frame["obj_adj"] = cue
        negated = rng.random() < 0.25
        frame["neg"] = rng.choice(("not", "never")) if negated else None
        return {"sentence": render(frame, en, "en"), "label": polarity ^ negated, "idx": i}

    return _intermediate(world, "sst2", row)


def squad_v2(world: World) -> Files:
    """SQuAD 2.0: a third of the questions have no answer in their context."""
    en = world.lexicons["en"]

    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        return qa_row(qa_item(rng, 1 / 3), en, "en", uid, True)

    return _intermediate(world, "squad_v2", row)


def ccg(world: World) -> Files:
    """jiant's CCG lines ('tokens TAB supertags'), and the tag inventory beside the training file."""
    spec = world.spec
    files: Files = {
        world.path("ccg", "train").parent / "tags_to_id.json": [json.dumps({tag: i for i, tag in enumerate(CCG_TAGS)})]
    }
    for split, n in (
        ("train", spec.intermediate_train),
        ("dev", spec.intermediate_dev),
        ("test", spec.intermediate_dev),
    ):
        path = world.path("ccg", split)
        rng = world.rng("ccg", path.stem)
        sentences = [parts(tagging_frame(rng, questions=False), False) for _ in range(n)]  # English: concept = word
        files[path] = [" ".join(c for c, _ in p) + "\t" + " ".join(ccg_tags(p)) for p in sentences]
    return files
