"""The offline world: a seeded synthetic multilingual world in the exact schemas of the real data sets.
Languages render one concept grammar with their own forms (Latin scripts share some English ones, SOV reorders);
low-resource languages get less unlabelled text, so transfer is real but imperfect where resources are scarce."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from xstilts.tasks.languages import JOSHI_CLASS, SCRIPT, SOV
from xstilts.tasks.registry import TASKS, UnknownNameError, build_registry, unknown_name_message

AGENTS = ["dog", "cat", "farmer", "teacher", "child", "doctor", "bird", "horse", "king", "student",
          "baker", "sailor", "girl", "boy", "driver", "singer", "painter", "pilot", "nurse", "soldier"]
OBJECTS = ["apple", "book", "letter", "car", "house", "boat", "song", "bread", "picture", "ball",
           "key", "door", "river", "garden", "train", "window", "cake", "flower", "road", "stone"]
VERB_PAIRS = [("opens", "closes"), ("buys", "sells"), ("finds", "loses"), ("loves", "hates"),
              ("builds", "breaks"), ("likes", "dislikes"), ("takes", "gives"), ("pushes", "pulls"),
              ("remembers", "forgets"), ("accepts", "refuses")]
ADJECTIVES = ["big", "small", "old", "young", "red", "green", "happy", "tired", "quiet", "loud",
              "new", "dark"]
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

GENERATOR_VERSION = 4  # bump when the generated data changes: it is part of the cache digest
_CONSONANTS = "ptkbdgmnslrvzfh"
_VOWELS = "aeiou"
# One letter per consonant / vowel in each non-Latin script (transliteration tables of the world).
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


def latin_share(lang: str) -> float:
    """Share of concepts a Latin-script language writes as English does: fewer where resources are
    scarce (loanwords and cognates travel with contact and text, as in XTREME's low-resource languages)."""
    return 0.25 + 0.07 * JOSHI_CLASS[lang]


WORLD_TASKS = tuple(spec.name for spec in TASKS if spec.sources)  # every task with data, registry order


@dataclass(frozen=True)
class WorldSpec:
    """Sizes, seed, tasks and languages of the offline world; its hash names the generated files.

    `languages` are generated for each target task where the task evaluates them; training sets are English.
    """

    seed: int = 0
    languages: tuple[str, ...] = ("en", "de", "fr", "ru", "el", "ur", "sw")
    tasks: tuple[str, ...] = WORLD_TASKS
    intermediate_train: int = 3000  # per intermediate task (ANLI: split 1:2:3 over its rounds)
    intermediate_dev: int = 300
    target_train: int = 400  # English training set of each target task (SQuAD v1.1 for XQuAD/MLQA)
    target_dev: int = 150  # per language (BUCC: gold pairs, plus half as many distractors per side)
    target_test: int = 150  # per language (XQuAD, Tatoeba: their single set)
    text_class5: int = 4000  # unlabelled sentences of a class-5 language; halved per class below
    code_switch_fraction: float = 0.3  # of a language's unlabelled sentences, partly in English

    def __post_init__(self) -> None:
        for kind, names, valid in (("world task", self.tasks, WORLD_TASKS), ("language", self.languages, JOSHI_CLASS)):
            for name in names:
                if name not in valid:
                    raise UnknownNameError(unknown_name_message(kind, name, list(valid)))

    def digest(self) -> str:
        payload = {**asdict(self), "generator": GENERATOR_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


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
    for concept in ALL_CONCEPTS[:-len(PUNCT)]:
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
    return {"subj": agent, "subj_adj": None, "verb": "uses", "num": None, "obj_adj": None, "obj": tool,
            "place": ("in", home), "neg": None, "hedge": "usually", "end": "."}


def _text_sentence(rng: random.Random, lexicon: dict[str, str], lang: str, switch: bool) -> str:
    frame = sample_frame(rng)
    if rng.random() < 0.2:
        frame["neg"] = rng.choice(("not", "never"))
    if rng.random() < 0.15:
        frame["hedge"] = rng.choice(("maybe", "perhaps", "probably"))
    words = [c for c, _ in parts(frame, lang in SOV)]
    if switch:  # code-switching: some words written the English way, as in real web text
        return " ".join(c if rng.random() < 0.4 else lexicon.get(c, c) for c in words)
    return " ".join(lexicon.get(c, c) for c in words)


def _extra_sentence(rng: random.Random, lexicon: dict[str, str], lang: str, facts: dict) -> str:
    """Text with what the newer tasks use: names, organisations, towns, questions, opinions, world facts."""
    r = rng.random()
    if r < 0.15:
        return render(fact_frame(rng.choice(AGENTS), facts), lexicon, lang)
    frame = sample_rich_frame(rng, entities=True, animate=True)
    if r < 0.35:
        frame.update(wh=rng.choice(("subj", "obj", "place") if frame["place"] else ("subj", "obj")), end="?")
    elif r < 0.5 and frame["subj"] in AGENTS:
        frame["subj_adj"] = rng.choice(("good", "wonderful", "bad", "terrible"))
    elif r < 0.6:
        frame["hedge"] = "then"
    frame["front"] = frame["place"] is not None and rng.random() < 0.2
    return render(frame, lexicon, lang)


def _nli_rows(rng: random.Random, n: int, lexicon: dict[str, str], lang: str) -> list[dict]:
    rows = []
    for _ in range(n):
        premise, hyp, label = make_pair(rng)
        rows.append({"premise": render(premise, lexicon, lang),
                     "hypothesis": render(hyp, lexicon, lang), "label": label})
    return rows


def task_languages(spec: WorldSpec, task: str) -> list[str]:
    """The spec's languages that a target task evaluates (its dev/test sets are generated in these)."""
    langs = build_registry()[task].eval_langs
    return [lang for lang in spec.languages if lang in langs]


def _nli_files(spec: WorldSpec, lexicons: dict[str, dict[str, str]]) -> dict[str, list]:
    files: dict[str, list] = {}
    if "mnli" in spec.tasks:
        rng = random.Random(f"{spec.seed}-mnli")
        for split, n in (("train", spec.intermediate_train), ("validation_matched", spec.intermediate_dev)):
            rows = _nli_rows(rng, n, lexicons["en"], "en")
            files[f"nyu-mll/glue/mnli/{split}.jsonl"] = [dict(r, idx=i) for i, r in enumerate(rows)]
    if "xnli" in spec.tasks:
        # XNLI dev/test are one set of frames rendered in every language, as XNLI is translated.
        for split, n in (("validation", spec.target_dev), ("test", spec.target_test)):
            pairs = [make_pair(random.Random(f"{spec.seed}-xnli-{split}-{i}")) for i in range(n)]
            for lang in task_languages(spec, "xnli"):
                lex = lexicons[lang]
                files[f"facebook/xnli/{lang}/{split}.jsonl"] = [
                    {"premise": render(p, lex, lang), "hypothesis": render(h, lex, lang), "label": y}
                    for p, h, y in pairs]
        files["facebook/xnli/en/train.jsonl"] = _nli_rows(
            random.Random(f"{spec.seed}-xnli-train"), spec.target_train, lexicons["en"], "en")
    return files


def _text_files(spec: WorldSpec, lexicons: dict[str, dict[str, str]]) -> dict[str, list]:
    """Unlabelled text per language (tokenizer and MLM); the extra quarter covers the newer tasks' words."""
    files: dict[str, list] = {}
    facts = world_facts(spec.seed)
    for lang, lex in lexicons.items():
        n = int(spec.text_class5 * 2.0 ** (JOSHI_CLASS[lang] - 5))
        trng = random.Random(f"{spec.seed}-text-{lang}")
        n_switch = 0 if lang == "en" else int(n * spec.code_switch_fraction)
        lines = [_text_sentence(trng, lex, lang, i < n_switch) for i in range(n)]
        xrng = random.Random(f"{spec.seed}-text-extra-{lang}")
        files[f"text/{lang}.txt"] = lines + [_extra_sentence(xrng, lex, lang, facts) for _ in range(n // 4)]
    return files


def _world_files(spec: WorldSpec) -> dict[str, list[dict] | list[str]]:
    """Return relative path -> rows (jsonl) or lines (txt) for every file of the world."""
    from xstilts.tasks.world_tasks import TASK_FILES  # deferred: world_tasks builds on this module's grammar

    lexicons = {lang: build_lexicon(lang, spec.seed) for lang in sorted({"en", *spec.languages})}
    files = _nli_files(spec, lexicons)
    for task in spec.tasks:
        if task in TASK_FILES:
            files.update(TASK_FILES[task](spec, lexicons))
    files.update(_text_files(spec, lexicons))
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_world(root: Path) -> dict:
    """Return the manifest of a written world after checking every file's checksum."""
    manifest_path = root / "MANIFEST.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: no offline world here (run `xstilts prepare`)")
    manifest = json.loads(manifest_path.read_text())
    for rel, digest in manifest["files"].items():
        path = root / rel
        if not path.is_file() or _sha256(path) != digest:
            raise ValueError(f"{path}: missing or checksum mismatch with {manifest_path}")
    return manifest


def write_world(spec: WorldSpec, cache_dir: Path) -> Path:
    """Write the world once under cache_dir/world-<digest>/ (atomically) and return its root."""
    root = cache_dir / f"world-{spec.digest()}"
    if (root / "MANIFEST.json").is_file():
        verify_world(root)
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".world-", dir=cache_dir))
    try:
        sums: dict[str, str] = {}
        for rel, rows in _world_files(spec).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            sums[rel] = _sha256(path)
        manifest = {"spec": asdict(spec), "digest": spec.digest(), "files": sums}
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
