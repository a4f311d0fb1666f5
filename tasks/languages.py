"""Languages of XTREME: resource class (Joshi et al. 2020), resource tier and writing script."""

from __future__ import annotations

# Joshi et al. (2020) classes for the XTREME languages (../shared/REFERENCE.md §4; [S] source).
JOSHI_CLASS: dict[str, int] = {
    **dict.fromkeys(["ar", "de", "en", "es", "fr", "ja", "zh"], 5),
    **dict.fromkeys(["eu", "fa", "fi", "hi", "hu", "it", "ko", "nl", "pt", "ru", "tr", "vi"], 4),
    **dict.fromkeys(
        ["af", "bg", "bn", "el", "et", "he", "id", "ka", "kk", "ms", "ta", "th", "tl", "ur"], 3
    ),
    **dict.fromkeys(["mr", "sw", "yo"], 2),
    **dict.fromkeys(["jv", "ml", "my", "te"], 1),
}

# Writing script of each language; drives how the offline world renders its words.
SCRIPT: dict[str, str] = {
    **dict.fromkeys(
        ["af", "de", "en", "es", "et", "eu", "fi", "fr", "hu", "id", "it", "jv", "ms", "nl",
         "pt", "sw", "tl", "tr", "vi", "yo"],
        "latin",
    ),
    **dict.fromkeys(["bg", "kk", "ru"], "cyrillic"),
    **dict.fromkeys(["ar", "fa", "ur"], "arabic"),
    **dict.fromkeys(["hi", "mr"], "devanagari"),
    "el": "greek", "he": "hebrew", "th": "thai", "ka": "georgian", "ko": "hangul",
    "ja": "kana", "zh": "han", "bn": "bengali", "ta": "tamil", "te": "telugu",
    "ml": "malayalam", "my": "myanmar",
}

# Languages whose basic order is subject-object-verb; the offline world mirrors it.
SOV = frozenset(["bn", "eu", "fa", "hi", "ja", "ka", "kk", "ko", "mr", "my", "ta", "te", "tr", "ur"])

TIERS = ("high", "mid", "low")


def resource_tier(lang: str) -> str:
    """Return 'high' (classes 4-5), 'mid' (class 3) or 'low' (classes 0-2) for an ISO 639-1 code."""
    cls = JOSHI_CLASS[lang]
    return "high" if cls >= 4 else "mid" if cls == 3 else "low"


def low_resource_langs(langs: list[str], max_class: int) -> list[str]:
    """Return the languages of `langs` whose Joshi class is at most `max_class`, English excluded."""
    return [lang for lang in langs if lang != "en" and JOSHI_CLASS[lang] <= max_class]
