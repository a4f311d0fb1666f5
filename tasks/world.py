"""The offline world: a seeded synthetic multilingual world in the exact schemas of the real data sets.

Languages render one shared concept grammar with their own surface forms: Latin-script languages
keep some English forms (fewer for low-resource ones), other scripts keep only digits; SOV languages
reorder; low-resource languages get less unlabelled (and less code-switched) text, so transfer is
real but imperfect, and weaker where resources are scarce.
"""

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

GENERATOR_VERSION = 2  # bump when the generated data changes: it is part of the cache digest
_CONSONANTS = "ptkbdgmnslrvzfh"
_VOWELS = "aeiou"
# One letter per consonant / vowel in each non-Latin script (transliteration tables of the world).
_SCRIPT_LETTERS = {
    "cyrillic": ("пткбдгмнслрвзфх", "аеиоу"),
    "greek": ("πτκβδγμνσλρφζθχ", "αειου"),
    "arabic": ("پتکبدگمنسلروزفه", "اےیوُ"),
    "devanagari": ("पतकबदगमनसलरवज़फह", "ािीोु"),
    "thai": ("ปตกบดงมนสลรวซฟห", "ะแิโุ"),
    "hebrew": ("פטקבדגמנסלרוזףה", "אעיוּ"),
    "georgian": ("პტკბდგმნსლრვზფჰ", "აეიოუ"),
    "hangul": ("ㅍㅌㅋㅂㄷㄱㅁㄴㅅㄹㄺㅇㅈㅊㅎ", "ㅏㅔㅣㅗㅜ"),
    "kana": ("パタカバダガマナサラワヴザファハ", "アエイオウ"),
    "bengali": ("পতকবদগমনসলরভজফহ", "ািীোু"),
    "tamil": ("பதகவடஙமநசலரழஜஃஹ", "ாெிொு"),
    "telugu": ("పతకబదగమనసలరవజఫహ", "ాెిొు"),
    "malayalam": ("പതകബദഗമനസലരവജഫഹ", "ാെിൊു"),
    "myanmar": ("ပတကဗဒဂမနသလရဝဇဖဟ", "ာေိုူ"),
}


def latin_share(lang: str) -> float:
    """Share of concepts a Latin-script language writes as English does: fewer where resources are
    scarce (loanwords and cognates travel with contact and text, as in XTREME's low-resource languages)."""
    return 0.25 + 0.07 * JOSHI_CLASS[lang]


@dataclass(frozen=True)
class WorldSpec:
    """Sizes and seed of the offline world; its hash names the generated files."""

    seed: int = 0
    languages: tuple[str, ...] = ("en", "de", "fr", "ru", "el", "ur", "sw")
    intermediate_train: int = 3000
    intermediate_dev: int = 300
    target_train: int = 400
    target_dev: int = 300
    target_test: int = 300
    text_class5: int = 4000  # unlabelled sentences of a class-5 language; halved per class below
    code_switch_fraction: float = 0.3  # of a language's unlabelled sentences, partly in English

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
        return {c: c for c in CONCEPTS}
    rng = random.Random(f"{seed}-lexicon-{lang}")
    script = SCRIPT[lang]
    share = latin_share(lang)
    consonants = rng.sample(range(len(_CONSONANTS)), 9)  # each language its own phonology
    lexicon: dict[str, str] = {}
    used: set[str] = set(CONCEPTS)
    for concept in CONCEPTS:
        shared = concept in NAMES or (script == "latin" and rng.random() < share)
        if shared and script == "latin":
            lexicon[concept] = concept
            continue
        while True:
            n = 1 if concept in FUNCTION else rng.choice((2, 3))
            sylls = [(rng.choice(consonants), rng.randrange(len(_VOWELS))) for _ in range(n)]
            form = _render_syllables(sylls, script)
            if concept in NAMES:
                form = form[:1].upper() + form[1:]
            if form not in used:
                break
        used.add(form)
        lexicon[concept] = form
    return lexicon


def _sample_frame(rng: random.Random) -> dict:
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


def _concepts(frame: dict, sov: bool) -> list[str]:
    subj = ([] if frame["subj"] in NAMES else ["the"]) + ([frame["subj_adj"]] if frame["subj_adj"] else [])
    subj.append(frame["subj"])
    obj = [frame["num"]] if frame["num"] else ["the"]
    obj += ([frame["obj_adj"]] if frame["obj_adj"] else []) + [frame["obj"]]
    verb = ([frame["neg"]] if frame["neg"] else []) + [frame["verb"]]
    core = subj + obj + verb if sov else subj + verb + obj
    place = ["the", frame["place"][1], frame["place"][0]] if sov and frame["place"] else (
        [frame["place"][0], "the", frame["place"][1]] if frame["place"] else [])
    return ([frame["hedge"]] if frame["hedge"] else []) + core + place


def render(frame: dict, lexicon: dict[str, str], lang: str) -> str:
    """Render a frame as a sentence of `lang` (numbers are digits in every script)."""
    words = [lexicon.get(c, c) for c in _concepts(frame, lang in SOV)]
    return " ".join(words)


def _drop_modifiers(frame: dict, rng: random.Random) -> dict:
    out = dict(frame)
    for key in ("subj_adj", "obj_adj", "num", "place"):
        if out[key] is not None and rng.random() < 0.5:
            out[key] = None
    return out


def make_pair(rng: random.Random) -> tuple[dict, dict, int]:
    """Return (premise, hypothesis, label) frames; 0 entailment, 1 neutral, 2 contradiction."""
    premise = _sample_frame(rng)
    label = rng.randrange(3)
    hyp = _drop_modifiers(premise, rng)
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


def _text_sentence(rng: random.Random, lexicon: dict[str, str], lang: str, switch: bool) -> str:
    frame = _sample_frame(rng)
    if rng.random() < 0.2:
        frame["neg"] = rng.choice(("not", "never"))
    if rng.random() < 0.15:
        frame["hedge"] = rng.choice(("maybe", "perhaps", "probably"))
    words = _concepts(frame, lang in SOV)
    if switch:  # code-switching: some words written the English way, as in real web text
        return " ".join(c if rng.random() < 0.4 else lexicon.get(c, c) for c in words)
    return " ".join(lexicon.get(c, c) for c in words)


def _nli_rows(rng: random.Random, n: int, lexicon: dict[str, str], lang: str) -> list[dict]:
    rows = []
    for _ in range(n):
        premise, hyp, label = make_pair(rng)
        rows.append({"premise": render(premise, lexicon, lang),
                     "hypothesis": render(hyp, lexicon, lang), "label": label})
    return rows


def _world_files(spec: WorldSpec) -> dict[str, list[dict] | list[str]]:
    """Return relative path -> rows (jsonl) or lines (txt) for every file of the world."""
    files: dict[str, list[dict] | list[str]] = {}
    rng = random.Random(f"{spec.seed}-mnli")
    en = build_lexicon("en", spec.seed)
    for split, n in (("train", spec.intermediate_train), ("validation_matched", spec.intermediate_dev)):
        rows = _nli_rows(rng, n, en, "en")
        files[f"nyu-mll/glue/mnli/{split}.jsonl"] = [dict(r, idx=i) for i, r in enumerate(rows)]
    # XNLI dev/test are one set of frames rendered in every language, as XNLI is translated.
    for split, n in (("validation", spec.target_dev), ("test", spec.target_test)):
        pairs = [make_pair(random.Random(f"{spec.seed}-xnli-{split}-{i}")) for i in range(n)]
        for lang in spec.languages:
            lex = build_lexicon(lang, spec.seed)
            files[f"facebook/xnli/{lang}/{split}.jsonl"] = [
                {"premise": render(p, lex, lang), "hypothesis": render(h, lex, lang), "label": y}
                for p, h, y in pairs]
    files["facebook/xnli/en/train.jsonl"] = _nli_rows(
        random.Random(f"{spec.seed}-xnli-train"), spec.target_train, en, "en")
    for lang in spec.languages:
        lex = build_lexicon(lang, spec.seed)
        n = int(spec.text_class5 * 2.0 ** (JOSHI_CLASS[lang] - 5))
        trng = random.Random(f"{spec.seed}-text-{lang}")
        n_switch = 0 if lang == "en" else int(n * spec.code_switch_fraction)
        files[f"text/{lang}.txt"] = [_text_sentence(trng, lex, lang, i < n_switch) for i in range(n)]
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
