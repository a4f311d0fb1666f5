"""The offline world's concept grammar: the concepts, each language's forms of them, sentence frames and their
rendering, and the labels that follow from a frame (NLI pairs, world facts, POS, NER and CCG tags)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from xstilts.tasks.languages import JOSHI_CLASS, SCRIPT, SOV

AGENTS = (
    "dog cat farmer teacher child doctor bird horse king student baker sailor girl boy driver singer painter pilot "
    "nurse soldier"
).split()
OBJECTS = (
    "apple book letter car house boat song bread picture ball key door river garden train window cake flower road stone"
).split()
VERB_PAIRS = [
    ("opens", "closes"),
    ("buys", "sells"),
    ("finds", "loses"),
    ("loves", "hates"),
    ("builds", "breaks"),
    ("likes", "dislikes"),
    ("takes", "gives"),
    ("pushes", "pulls"),
    ("remembers", "forgets"),
    ("accepts", "refuses"),
]
ADJECTIVES = ["big", "small", "old", "young", "red", "green", "happy", "tired", "quiet", "loud", "new", "dark"]
PLACES = ["market", "school", "village", "city", "forest", "station", "church", "harbor"]
NAMES = ["Anna", "Omar", "Lina", "Pedro", "Mei", "Ivan", "Sara", "Kofi", "Yuki", "Ravi"]
NUMBERS = ["2", "3", "5", "7", "10", "12"]
FUNCTION = ["the", "not", "never", "maybe", "perhaps", "probably", "in", "near"]
VERBS = [v for pair in VERB_PAIRS for v in pair]
ANTONYM = {a: b for pair in VERB_PAIRS for a, b in (pair, pair[::-1])}
CONCEPTS = AGENTS + OBJECTS + VERBS + ADJECTIVES + PLACES + NAMES + FUNCTION
# Added for the tasks beyond NLI; coined after CONCEPTS, so the older words keep their forms.
SURNAMES = ["Berg", "Silva", "Okafor", "Novak", "Haddad", "Larsen"]
TOWNS = ["Norvik", "Talsen", "Brenmoor", "Eskdal", "Varnhem", "Lunden"]
ORG_WORDS = ["Bank", "Company", "Council", "Club"]  # "Norvik Bank": an organisation
QUESTION = ["who", "what", "where"]
EXTRA = ["Port", "then", "is", "usually", "uses", "true", "good", "wonderful", "bad", "terrible"]
PUNCT = [".", "?"]
ALL_CONCEPTS = CONCEPTS + SURNAMES + TOWNS + ORG_WORDS + QUESTION + EXTRA + PUNCT
PROPER = frozenset(NAMES + SURNAMES + TOWNS)  # kept as written by Latin scripts, transliterated by others
_SHORT = frozenset(FUNCTION + QUESTION + ["then", "is"])  # one syllable
HEADS = ("subj", "obj", "place")  # the roles `parts` gives the head nouns
# Every supertag `ccg_tags` gives: the world's CCG tag inventory, in its order.
CCG_TAGS = ("N", "N/N", "NP/N", r"(S\NP)/NP", r"(S\NP)/(S\NP)", "S/S", r"(S/S)/NP", r"((S\NP)\(S\NP))/NP", ".")

_CONSONANTS = "ptkbdgmnslrvzfh"
_VOWELS = "aeiou"
# One letter per consonant / vowel in each non-Latin script (transliteration tables of the world).
# fmt: off
_SCRIPT_LETTERS = {
    "cyrillic": ("пткбдгмнслрвзфх", "аеиоу"), "greek": ("πτκβδγμνσλρφζθχ", "αειου"),
    "arabic": ("پتکبدگمنسلروزفه", "اےیوُ"), "devanagari": ("पतकबदगमनसलरवज़फह", "ािीोु"),
    "thai": ("ปตกบดงมนสลรวซฟห", "ะแิโุ"), "hebrew": ("פטקבדגמנסלרוזףה", "אעיוּ"),
    "georgian": ("პტკბდგმნსლრვზფჰ", "აეიოუ"), "hangul": ("ㅍㅌㅋㅂㄷㄱㅁㄴㅅㄹㄺㅇㅈㅊㅎ", "ㅏㅔㅣㅗㅜ"),
    "kana": ("パタカバダガマナサラワヴザファハ", "アエイオウ"), "bengali": ("পতকবদগমনসলরভজফহ", "ািীোু"),
    "tamil": ("பதகவடஙமநசலரழஜஃஹ", "ாெிொு"), "telugu": ("పతకబదగమనసలరవజఫహ", "ాెిొు"),
    "malayalam": ("പതകബദഗമനസലരവജഫഹ", "ാെിൊു"), "myanmar": ("ပတကဗဒဂမနသလရဝဇဖဟ", "ာေိုူ"),
}
# Full stop and question mark of each script ("." and "?" elsewhere).
_PUNCT = {"han": ("。", "？"), "kana": ("。", "？"), "devanagari": ("।", "?"), "arabic": (".", "؟"),
          "greek": (".", ";"), "myanmar": ("။", "?")}
# fmt: on


def latin_share(lang: str) -> float:
    """Share of concepts a Latin-script language writes as English does: fewer where resources are
    scarce (loanwords and cognates travel with contact and text, as in XTREME's low-resource languages)."""
    return 0.25 + 0.07 * JOSHI_CLASS[lang]


def _render_syllables(syllables: list[tuple[int, int]], script: str) -> str:
    if script in ("latin", "han"):
        letters = (_CONSONANTS, _VOWELS)
    else:
        letters = _SCRIPT_LETTERS[script]
    if script == "han":  # one CJK character per syllable
        return "".join(chr(0x4E00 + 97 * (c * len(_VOWELS) + v)) for c, v in syllables)
    return "".join(letters[0][c] + letters[1][v] for c, v in syllables)


def build_lexicon(lang: str, seed: int) -> dict[str, str]:
    """Return concept -> surface form for one language (English is the identity)."""
    if lang == "en":
        return {c: c for c in ALL_CONCEPTS}
    rng = random.Random(f"{seed}-lexicon-{lang}")
    script = SCRIPT[lang]
    share = latin_share(lang)
    consonants = rng.sample(range(len(_CONSONANTS)), 9)  # each language its own phonology
    lexicon: dict[str, str] = dict(zip(PUNCT, _PUNCT.get(script, (".", "?"))))
    used: set[str] = set(ALL_CONCEPTS)
    for concept in ALL_CONCEPTS[: -len(PUNCT)]:
        shared = concept in PROPER or (script == "latin" and rng.random() < share)
        if shared and script == "latin":
            lexicon[concept] = concept
            continue
        while True:
            n = 1 if concept in _SHORT else rng.choice((2, 3))
            sylls = [(rng.choice(consonants), rng.randrange(len(_VOWELS))) for _ in range(n)]
            form = _render_syllables(sylls, script)
            if concept[:1].isupper():  # names (and "Port", "Bank") are capitalised where the script has case
                form = form[:1].upper() + form[1:]
            if form not in used:
                break
        used.add(form)
        lexicon[concept] = form
    return lexicon


def sample_frame(rng: random.Random) -> dict:
    """A premise as concepts: subject, verb, object (with optional number/adjectives), place."""
    subj = rng.choice(NAMES) if rng.random() < 0.3 else rng.choice(AGENTS)
    return {
        "subj": subj,
        "subj_adj": rng.choice(ADJECTIVES) if subj in AGENTS and rng.random() < 0.5 else None,
        "verb": rng.choice(VERBS),
        "num": rng.choice(NUMBERS) if rng.random() < 0.3 else None,
        "obj_adj": rng.choice(ADJECTIVES) if rng.random() < 0.5 else None,
        "obj": rng.choice(OBJECTS),
        "place": (rng.choice(("in", "near")), rng.choice(PLACES)) if rng.random() < 0.4 else None,
        "neg": None,
        "hedge": None,
    }


def sample_entity(rng: random.Random, kind: str) -> tuple[str, ...]:
    """A named entity as concepts: PER 'Anna (Berg)', ORG 'Norvik Bank', LOC '(Port) Talsen'."""
    if kind == "PER":
        return (rng.choice(NAMES), rng.choice(SURNAMES)) if rng.random() < 0.4 else (rng.choice(NAMES),)
    if kind == "ORG":
        return rng.choice(TOWNS), rng.choice(ORG_WORDS)
    return ("Port", rng.choice(TOWNS)) if rng.random() < 0.3 else (rng.choice(TOWNS),)


def sample_rich_frame(rng: random.Random, entities: bool = False, animate: bool = False) -> dict:
    """A sentence frame ending in '.', with named entities (PER/ORG/LOC) and animate objects if asked."""
    frame = dict(sample_frame(rng), end=".")
    if entities:
        r, s = rng.random(), rng.random()
        if r < 0.45:
            frame.update(subj=sample_entity(rng, "PER" if r < 0.3 else "ORG"), subj_adj=None)
        if s < 0.35:
            frame.update(obj=sample_entity(rng, "PER" if s < 0.25 else "ORG"), obj_adj=None, num=None)
        if frame["place"] and rng.random() < 0.5:
            frame["place"] = (frame["place"][0], sample_entity(rng, "LOC"))
    if animate and frame["obj"] in OBJECTS and rng.random() < 0.4:
        frame.update(obj=rng.choice([a for a in AGENTS if a != frame["subj"]]), num=None)
    return frame


def parts(frame: dict, sov: bool) -> list[tuple[str, str]]:
    """Return (concept, role) pairs of a frame in a language's order.

    Roles: subj, obj, place (the heads), det, adj, verb, neg, prep, hedge, wh, end. The role named by
    `frame["wh"]` is asked for: its phrase becomes a question word in place (the world's questions are in situ).
    """
    wh = frame.get("wh")

    def phrase(role: str, head, adj: str | None = None, det: str | None = None) -> list[tuple[str, str]]:
        head = (head,) if isinstance(head, str) else tuple(head)
        if wh == role:
            return [("who" if head[0] in AGENTS or head[0] in NAMES else "what", "wh")]
        out = [] if head[0][:1].isupper() else [(det or "the", "det")]  # proper names take no article
        return out + ([(adj, "adj")] if adj else []) + [(c, role) for c in head]

    subj = phrase("subj", frame["subj"], frame["subj_adj"])
    obj = phrase("obj", frame["obj"], frame["obj_adj"], frame["num"])
    verb = ([(frame["neg"], "neg")] if frame["neg"] else []) + [(frame["verb"], "verb")]
    core = subj + obj + verb if sov else subj + verb + obj
    place: list[tuple[str, str]] = []
    if wh == "place":
        place = [("where", "wh")]
    elif frame["place"]:
        noun = phrase("place", frame["place"][1])
        place = noun + [(frame["place"][0], "prep")] if sov else [(frame["place"][0], "prep")] + noun
    hedge = [(frame["hedge"], "hedge")] if frame["hedge"] else []
    end = [(frame["end"], "end")] if frame.get("end") else []
    return hedge + (place + core if frame.get("front") else core + place) + end


def render(frame: dict, lexicon: dict[str, str], lang: str) -> str:
    """Render a frame as a sentence of `lang` (numbers are digits in every script)."""
    return " ".join(lexicon.get(c, c) for c, _ in parts(frame, lang in SOV))


def render_words(frame: dict, lexicon: dict[str, str], lang: str) -> list[tuple[str, str, str]]:
    """Render a frame as (word, concept, role) triples of `lang`; `render` joins the words with spaces."""
    return [(lexicon.get(c, c), c, role) for c, role in parts(frame, lang in SOV)]


def drop_modifiers(frame: dict, rng: random.Random) -> dict:
    """The frame without some of its adjectives, number and place (what it says still holds)."""
    out = dict(frame)
    for key in ("subj_adj", "obj_adj", "num", "place"):
        if out[key] is not None and rng.random() < 0.5:
            out[key] = None
    return out


def make_pair(rng: random.Random) -> tuple[dict, dict, int]:
    """Return (premise, hypothesis, label) frames; 0 entailment, 1 neutral, 2 contradiction."""
    premise = sample_frame(rng)
    label = rng.randrange(3)
    hyp = drop_modifiers(premise, rng)
    if label == 1:
        if rng.random() < 0.5:
            hyp["obj"] = rng.choice([o for o in OBJECTS if o != premise["obj"]])
        else:
            hyp["subj"] = rng.choice([a for a in AGENTS if a != premise["subj"]])
            hyp["subj_adj"] = None
        hyp["hedge"] = rng.choice(("maybe", "perhaps", "probably")) if rng.random() < 0.6 else None
    elif label == 2:
        if rng.random() < 0.5:
            hyp["neg"] = rng.choice(("not", "never"))
        else:
            hyp["verb"] = ANTONYM[premise["verb"]]
    return premise, hyp, label


def world_facts(seed: int) -> dict[str, tuple[str, str]]:
    """Return agent -> (the object it usually uses, the place it usually is): the world's common sense."""
    rng = random.Random(f"{seed}-facts")
    tools = rng.sample(OBJECTS, len(AGENTS))
    return {agent: (tool, rng.choice(PLACES)) for agent, tool in zip(AGENTS, tools)}


def fact_frame(agent: str, facts: dict[str, tuple[str, str]]) -> dict:
    """'usually the farmer uses the key in the village .'"""
    tool, home = facts[agent]
    return {
        "subj": agent,
        "subj_adj": None,
        "verb": "uses",
        "num": None,
        "obj_adj": None,
        "obj": tool,
        "place": ("in", home),
        "neg": None,
        "hedge": "usually",
        "end": ".",
    }


def heads(frame: dict) -> list[str]:
    """The concepts of a frame's subject, object and place heads."""
    out = []
    for head in (frame["subj"], frame["obj"], frame["place"][1] if frame["place"] else ()):
        out += [head] if isinstance(head, str) else list(head)
    return out


def sentence_key(frame: dict) -> list:
    """The whole sentence as one key (for `distinct_frames`: no sentence twice)."""
    return [tuple(parts(frame, False))]


def distinct_frames(rng: random.Random, n: int, sample: Callable, key: Callable[[dict], list]) -> list[dict]:
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


def tagging_frame(rng: random.Random, questions: bool = True) -> dict:
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
    classes = {
        "det": "DET",
        "adj": "ADJ",
        "verb": "VERB",
        "neg": "PART",
        "hedge": "ADV",
        "prep": "ADP",
        "end": "PUNCT",
        "wh": "PRON",
    }
    return [
        ("PROPN" if c[:1].isupper() else "NOUN")
        if r in HEADS
        else "NUM"
        if c.isdigit()
        else "ADV"
        if c == "where"
        else classes[r]
        for c, r in concept_roles
    ]


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
