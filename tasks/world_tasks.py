"""The offline world's tasks beyond MNLI/XNLI, each in its data set's exact hub schema. Labels follow from the
text by simple rules (tests/unit/tasks/test_world_tasks.py recovers them); target dev/test sets are one set of
frames rendered in every language, as XTREME's translated sets are."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Callable

from xstilts.tasks.languages import ISO3, LANG_NAME
from xstilts.tasks.registry import NER, UPOS
from xstilts.tasks.world import (ADJECTIVES, AGENTS, ANTONYM, NAMES, OBJECTS, ORG_WORDS, PLACES, VERBS, WorldSpec,
                                 drop_modifiers, fact_frame, make_pair, parts, render, render_words, sample_frame,
                                 sample_rich_frame, task_languages, world_facts)

Lexicons = dict[str, dict[str, str]]
Files = dict[str, list]
POSITIVE = ("loves", "likes", "accepts", "happy", "good", "wonderful")
NEGATIVE = ("hates", "dislikes", "refuses", "tired", "bad", "terrible")
HEADS = ("subj", "obj", "place")
CCG_TAGS = ("N", "N/N", "NP/N", r"(S\NP)/NP", r"(S\NP)/(S\NP)", "S/S", r"(S/S)/NP", r"((S\NP)\(S\NP))/NP", ".")


def _rng(spec: WorldSpec, *key: object) -> random.Random:
    return random.Random("-".join(str(k) for k in (spec.seed, *key)))


def _uid(spec: WorldSpec, *key: object) -> str:
    return hashlib.md5("-".join(str(k) for k in (spec.seed, *key)).encode()).hexdigest()[:24]


def _intermediate(spec: WorldSpec, path: str, row: Callable[..., dict], splits=("train", "validation")) -> Files:
    """English train and dev rows of an intermediate task; row(rng, uid, i, split) -> one hub row."""
    files = {}
    for split, n in zip(splits, (spec.intermediate_train, spec.intermediate_dev)):
        rng = _rng(spec, path, split)
        files[f"{path}/{split}.jsonl"] = [row(rng, _uid(spec, path, split, i), i, split) for i in range(n)]
    return files


def _translated(spec: WorldSpec, task: str, lex: Lexicons, sample: Callable, row: Callable, path: Callable,
                splits: tuple[tuple[str, int], ...] | None = None) -> Files:
    """An English train set, and dev/test sets of one list of items rendered in every language of the task;
    sample(rng) -> item, row(item, lexicon, lang, i) -> hub row, path(lang, split) -> file."""
    splits = splits or (("train", spec.target_train), ("validation", spec.target_dev), ("test", spec.target_test))
    files = {}
    for split, n in splits:
        rng = _rng(spec, task, split)
        items = [sample(rng) for _ in range(n)]
        for lang in ["en"] if split == "train" else task_languages(spec, task):
            files[path(lang, split)] = [row(item, lex[lang], lang, i) for i, item in enumerate(items)]
    return files


def heads(frame: dict) -> list[str]:
    """The concepts of a frame's subject, object and place heads."""
    out = []
    for head in (frame["subj"], frame["obj"], frame["place"][1] if frame["place"] else ()):
        out += [head] if isinstance(head, str) else list(head)
    return out


def _sentence_key(frame: dict) -> list:
    return [tuple(parts(frame, False))]


def _frames(rng: random.Random, n: int, sample: Callable, key: Callable[[dict], list]) -> list[dict]:
    """n sampled frames whose keys (heads, or the whole sentence) never repeat: every answer is unique."""
    frames: list[dict] = []
    used: set = set()
    while len(frames) < n:
        frame = sample(rng)
        k = set(key(frame))
        if len(k) == len(key(frame)) and not used & k:
            frames.append(frame)
            used |= k
    return frames


def _tagging_frame(rng: random.Random, questions: bool = True) -> dict:
    """A sentence with entities, and sometimes a question, a negation, a hedge or a fronted place phrase."""
    frame = sample_rich_frame(rng, entities=True, animate=True)
    r = rng.random()
    if questions and r < 0.15:
        frame.update(wh=rng.choice(("subj", "obj")), end="?")
    elif r < 0.3:
        frame["neg"] = rng.choice(("not", "never"))
    if rng.random() < 0.15:
        frame["hedge"] = rng.choice(("maybe", "perhaps", "probably", "usually", "then"))
    frame["front"] = frame["place"] is not None and rng.random() < 0.2
    return frame


def pos_tags(concept_roles: list[tuple[str, str]]) -> list[str]:
    """UPOS from each concept's word class (a head is NOUN, or PROPN when it is a capitalised name)."""
    classes = {"det": "DET", "adj": "ADJ", "verb": "VERB", "neg": "PART", "hedge": "ADV", "prep": "ADP",
               "end": "PUNCT", "wh": "PRON"}
    return [("PROPN" if c[:1].isupper() else "NOUN") if r in HEADS else "NUM" if c.isdigit() else
            "ADV" if c == "where" else classes[r] for c, r in concept_roles]


def ner_tags(concept_roles: list[tuple[str, str]]) -> list[str]:
    """IOB2: a capitalised head is PER (it starts with a first name), ORG (it ends in Bank, Club, ...) or LOC."""
    tags: list[str] = []
    for role, group in itertools.groupby(concept_roles, key=lambda p: p[1]):
        words = [concept for concept, _ in group]
        if role not in HEADS or not words[0][:1].isupper():
            tags += ["O"] * len(words)
            continue
        kind = "PER" if words[0] in NAMES else "ORG" if words[-1] in ORG_WORDS else "LOC"
        tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
    return tags


def ccg_tags(concept_roles: list[tuple[str, str]]) -> list[str]:
    """CCG supertags of an English sentence, from each word's role and its neighbours' roles."""
    fixed = {"adj": "N/N", "verb": r"(S\NP)/NP", "neg": r"(S\NP)/(S\NP)", "hedge": "S/S", "end": "."}
    tags, roles = [], [None] + [role for _, role in concept_roles] + [None]
    for k, (concept, role) in enumerate(concept_roles):
        prev, nxt = roles[k], roles[k + 2]
        if role in HEADS:
            tags.append("N/N" if nxt == role else "N")  # 'Anna Berg', 'Norvik Bank': a compound noun
        elif role == "det":
            tags.append("NP/N" if concept == "the" else "N/N")
        elif role == "prep":  # a fronted place phrase modifies the sentence, a final one the verb phrase
            tags.append(r"(S/S)/NP" if prev in (None, "hedge") else r"((S\NP)\(S\NP))/NP")
        else:
            tags.append(fixed[role])
    return tags


# -- intermediate tasks (English) -------------------------------------------------------------------------
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
    return {"uid": uid, "premise": " ".join(render(dict(f, end="."), en, "en") for f in context),
            "hypothesis": render(dict(hyp, end="."), en, "en"), "label": label, "reason": ""}


def anli(spec: WorldSpec, lex: Lexicons) -> Files:
    files = {}
    for r in (1, 2, 3):  # ANLI's rounds grow: train split 1:2:3
        for split, n in ((f"train_r{r}", spec.intermediate_train * r // 6), (f"dev_r{r}", spec.intermediate_dev // 3)):
            rng = _rng(spec, "anli", split)
            files[f"facebook/anli/plain_text/{split}.jsonl"] = [
                _anli_row(rng, r, lex["en"], _uid(spec, "anli", split, i)) for i in range(n)]
    return files


def commonsense_qa(spec: WorldSpec, lex: Lexicons) -> Files:
    """Questions on the world's facts (where an agent usually is, what it uses); four wrong choices."""
    facts = world_facts(spec.seed)
    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        agent = rng.choice(AGENTS)
        ask_place = rng.random() < 0.5
        question = dict(fact_frame(agent, facts), wh="place" if ask_place else "obj", end="?")
        question["place"] = question["place"] if ask_place else None
        answer, pool = (facts[agent][1], PLACES) if ask_place else (facts[agent][0], OBJECTS)
        choices = rng.sample([x for x in pool if x != answer], 4) + [answer]
        rng.shuffle(choices)
        return {"id": uid, "question": render(question, lex["en"], "en"), "question_concept": agent,
                "choices": {"label": list("ABCDE"), "text": choices}, "answerKey": "ABCDE"[choices.index(answer)]}
    return _intermediate(spec, "tau/commonsense_qa", row)


def _false_statement(frame: dict, rng: random.Random, used: set[str]) -> dict:
    """The frame with the opposite verb, negated, with subject and object swapped, or with another object."""
    return rng.choice([dict(frame, verb=ANTONYM[frame["verb"]]), dict(frame, neg=rng.choice(("not", "never"))),
                       dict(frame, subj=frame["obj"], obj=frame["subj"], subj_adj=frame["obj_adj"],
                            obj_adj=frame["subj_adj"], num=None),
                       dict(frame, obj=rng.choice([o for o in OBJECTS if o not in used]))])


def cosmos_qa(spec: WorldSpec, lex: Lexicons) -> Files:
    """'what is true ?' about a short story: one statement it says, three it contradicts or never says."""
    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        context = _frames(rng, rng.choice((2, 3)), sample_rich_frame, heads)
        used = {c for frame in context for c in heads(frame)}
        statements = [drop_modifiers(rng.choice(context), rng)]
        while len(statements) < 4:
            statements.append(drop_modifiers(_false_statement(rng.choice(context), rng, used), rng))
        order = rng.sample(range(4), 4)
        return {"id": uid, "context": " ".join(render(f, lex["en"], "en") for f in context),
                "question": "what is true ?",
                **{f"answer{k}": render(statements[j], lex["en"], "en") for k, j in enumerate(order)},
                "label": order.index(0)}
    return _intermediate(spec, "allenai/cosmos_qa", row)


def hellaswag(spec: WorldSpec, lex: Lexicons) -> Files:
    """What happens next: the world's events come in pairs (buys, then sells), about the same object."""
    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        frame = sample_rich_frame(rng)
        follow = ANTONYM[frame["verb"]]
        obj2 = rng.choice([o for o in OBJECTS if o != frame["obj"]])
        verb2, verb3 = rng.sample([v for v in VERBS if v not in (follow, frame["verb"])], 2)
        then = dict(frame, subj_adj=None, obj_adj=None, num=None, place=None, hedge="then")
        k = [role for _, role in parts(then, False)].index("verb")
        words = [render(dict(then, verb=v, obj=o), lex["en"], "en").split(" ")
                 for v, o in ((follow, frame["obj"]), (follow, obj2), (verb2, frame["obj"]), (verb3, obj2))]
        order = rng.sample(range(4), 4)
        ctx_a, ctx_b = render(frame, lex["en"], "en"), " ".join(words[0][:k])
        return {"ind": i, "activity_label": frame["verb"].capitalize(), "ctx_a": ctx_a, "ctx_b": ctx_b,
                "ctx": f"{ctx_a} {ctx_b}", "endings": [" ".join(words[j][k:]) for j in order],
                "source_id": f"world~{uid[:8]}", "split": "train" if split == "train" else "val",
                "split_type": "indomain", "label": str(order.index(0))}
    return _intermediate(spec, "Rowan/hellaswag", row)


def _paraphrase_pair(rng: random.Random, question: bool, entities: bool) -> tuple[dict, dict, int]:
    """PAWS's idea: a paraphrase moves the place phrase or drops adjectives; a non-paraphrase swaps subject
    and object, so both have (nearly) the same words."""
    f = _frames(rng, 1, lambda r: sample_rich_frame(r, entities=entities, animate=True), heads)[0]
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


def qqp(spec: WorldSpec, lex: Lexicons) -> Files:
    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        q1, q2, label = _paraphrase_pair(rng, question=True, entities=False)
        return {"question1": render(q1, lex["en"], "en"), "question2": render(q2, lex["en"], "en"),
                "label": label, "idx": i}
    return _intermediate(spec, "nyu-mll/glue/qqp", row)


def sst2(spec: WorldSpec, lex: Lexicons) -> Files:
    """Sentiment of one cue word (loves/hates, happy/tired, ...), flipped by a negation."""
    neutral_verbs = [v for v in VERBS if v not in POSITIVE + NEGATIVE]
    neutral_adjs = [a for a in ADJECTIVES if a not in POSITIVE + NEGATIVE]
    def row(rng: random.Random, uid: str, i: int, split: str) -> dict:
        frame = sample_rich_frame(rng, animate=True)
        frame.update(verb=rng.choice(neutral_verbs), subj_adj=None,
                     obj_adj=rng.choice(neutral_adjs) if rng.random() < 0.3 else None)
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
        return {"sentence": render(frame, lex["en"], "en"), "label": polarity ^ negated, "idx": i}
    return _intermediate(spec, "nyu-mll/glue/sst2", row)


def ccg(spec: WorldSpec, lex: Lexicons) -> Files:
    """jiant's CCG lines ('tokens TAB supertags') and the tag inventory beside them."""
    files: Files = {"ccgbank/tags_to_id.json": [json.dumps({tag: i for i, tag in enumerate(CCG_TAGS)})]}
    sizes = (spec.intermediate_train, spec.intermediate_dev, spec.intermediate_dev)
    for split, n in zip(("train", "dev", "test"), sizes):
        rng = _rng(spec, "ccg", split)
        sentences = [parts(_tagging_frame(rng, questions=False), False) for _ in range(n)]  # English: concept = word
        files[f"ccgbank/{split}.txt"] = [" ".join(c for c, _ in p) + "\t" + " ".join(ccg_tags(p)) for p in sentences]
    return files


# -- question answering (SQuAD v2 intermediate; XQuAD, MLQA, TyDiQA targets) ---------------------------------
def _qa_item(rng: random.Random, unanswerable: float = 0.0) -> tuple[list[dict], int, dict, str | None]:
    """Context frames, the asked frame's index, the question (wh in situ) and the asked role (None: unanswerable)."""
    context = _frames(rng, rng.choice((2, 3)), lambda r: sample_rich_frame(r, entities=True), heads)
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


def _qa_row(item: tuple, lexicon: dict[str, str], lang: str, qid: str, title: bool) -> dict:
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
            start, answer = sum(len(s) + 1 for s in sentences) + span[0][0], text[span[0][0]:span[-1][1]]
        sentences.append(text)
    titled = {"title": " ".join(w for w, _, r in render_words(context[0], lexicon, lang) if r == "subj")}
    return {"id": qid, **(titled if title else {}), "context": " ".join(sentences),
            "question": render(question, lexicon, lang),
            "answers": {"text": [answer] if role else [], "answer_start": [start] if role else []}}


def _qa_target(spec: WorldSpec, lex: Lexicons, task: str, folder: str, splits: tuple) -> Files:
    """SQuAD v1.1 train (XQuAD's and MLQA's English training set) and the task's translated sets."""
    rng = _rng(spec, "squad", "train")
    train = [_qa_row(_qa_item(rng), lex["en"], "en", _uid(spec, "squad", i), True) for i in range(spec.target_train)]
    return {"rajpurkar/squad/train.jsonl": train, **_translated(
        spec, task, lex, _qa_item, lambda item, lx, lang, i: _qa_row(item, lx, lang, _uid(spec, task, i), False),
        lambda lang, split: f"{folder.format(lang=lang)}/{split}.jsonl", splits)}


def tydiqa(spec: WorldSpec, lex: Lexicons) -> Files:
    """TyDiQA-GoldP: one file per split with every language mixed, ids prefixed by the language's name."""
    files = {}
    for split, n, langs in (("train", spec.target_train, ["en"]),
                            ("validation", spec.target_dev, task_languages(spec, "tydiqa"))):
        rng = _rng(spec, "tydiqa", split)
        items = [_qa_item(rng) for _ in range(n)]
        if langs:
            files[f"google-research-datasets/tydiqa/secondary_task/{split}.jsonl"] = [
                _qa_row(item, lex[lang], lang, f"{LANG_NAME[lang].lower()}-{_uid(spec, 'tydiqa', split, i)}", True)
                for lang in langs for i, item in enumerate(items)]
    return files


# -- tagging and retrieval targets ---------------------------------------------------------------------------
def pawsx(spec: WorldSpec, lex: Lexicons) -> Files:
    return _translated(spec, "pawsx", lex, lambda rng: _paraphrase_pair(rng, question=False, entities=True),
                       lambda item, lx, lang, i: {"id": i + 1, "sentence1": render(item[0], lx, lang),
                                                  "sentence2": render(item[1], lx, lang), "label": item[2]},
                       lambda lang, split: f"google-research-datasets/paws-x/{lang}/{split}.jsonl")


def _tagged(spec: WorldSpec, lex: Lexicons, task: str, folder: str) -> Files:
    """UDPOS (tokens, pos_tags) or PAN-X (tokens, ner_tags, langs): the tags of each word's concept and role."""
    def row(frame: dict, lexicon: dict[str, str], lang: str, i: int) -> dict:
        words = render_words(frame, lexicon, lang)
        roles, tokens = [(c, r) for _, c, r in words], [w for w, _, _ in words]
        if task == "udpos":
            return {"tokens": tokens, "pos_tags": [UPOS.index(t) for t in pos_tags(roles)]}
        return {"tokens": tokens, "ner_tags": [NER.index(t) for t in ner_tags(roles)], "langs": [lang] * len(words)}
    return _translated(spec, task, lex, _tagging_frame, row,
                       lambda lang, split: f"{folder.format(lang=lang, name=LANG_NAME[lang])}/{split}.jsonl")


def tatoeba(spec: WorldSpec, lex: Lexicons) -> Files:
    """One aligned set per language (xx -> en), lines unstripped like the hub's."""
    frames = _frames(_rng(spec, "tatoeba"), spec.target_test, _tagging_frame, _sentence_key)
    return {f"google/xtreme/tatoeba.{ISO3[lang]}/validation.jsonl": [
        {"source_sentence": render(f, lex[lang], lang) + "\n", "target_sentence": render(f, lex["en"], "en") + "\n",
         "source_lang": ISO3[lang], "target_lang": "eng"} for f in frames] for lang in task_languages(spec, "tatoeba")}


def bucc2018(spec: WorldSpec, lex: Lexicons) -> Files:
    """BUCC as XTREME downloads it: shuffled xx and en pools ('id TAB text'), half as many sentences again
    without a translation on each side, and the gold pairs of the true translations."""
    files: Files = {}
    for split, n in (("dev", spec.target_dev), ("test", spec.target_test)):
        frames = _frames(_rng(spec, "bucc", split), n + n // 2 * 2, _tagging_frame, _sentence_key)
        pools = {"xx": frames[:n + n // 2], "en": frames[:n] + frames[n + n // 2:]}  # the first n: translations
        for lang in task_languages(spec, "bucc2018"):
            rng, ids = _rng(spec, "bucc", split, lang), {}
            for side, code in (("xx", lang), ("en", "en")):
                order = rng.sample(range(len(pools[side])), len(pools[side]))
                ids[side] = {k: f"{code}-{pos + 1:09d}" for pos, k in enumerate(order)}
                files[f"bucc2018/{lang}-en.{split}.{code}"] = [
                    f"{ids[side][k]}\t{render(pools[side][k], lex[code], code)}" for k in order]
            files[f"bucc2018/{lang}-en.{split}.gold"] = sorted(f"{ids['xx'][k]}\t{ids['en'][k]}" for k in range(n))
    return files


TASK_FILES: dict[str, Callable[[WorldSpec, Lexicons], Files]] = {  # task -> (relative path -> rows or lines)
    "anli": anli, "commonsense_qa": commonsense_qa, "cosmos_qa": cosmos_qa, "hellaswag": hellaswag, "qqp": qqp,
    "squad_v2": lambda spec, lex: _intermediate(spec, "rajpurkar/squad_v2", lambda rng, uid, i, split: _qa_row(
        _qa_item(rng, 1 / 3), lex["en"], "en", uid, True)),
    "sst2": sst2, "ccg": ccg, "pawsx": pawsx,
    "udpos": lambda spec, lex: _tagged(spec, lex, "udpos", "google/xtreme/udpos.{name}"),
    "panx": lambda spec, lex: _tagged(spec, lex, "panx", "google/xtreme/PAN-X.{lang}"),
    "xquad": lambda spec, lex: _qa_target(spec, lex, "xquad", "google/xquad/xquad.{lang}",
                                          (("validation", spec.target_test),)),
    "mlqa": lambda spec, lex: _qa_target(spec, lex, "mlqa", "facebook/mlqa/mlqa.{lang}.{lang}",
                                         (("validation", spec.target_dev), ("test", spec.target_test))),
    "tydiqa": tydiqa, "bucc2018": bucc2018, "tatoeba": tatoeba}
