"""Languages of XTREME: resource class (Joshi et al. 2020), resource tier and writing script."""

from __future__ import annotations

# Joshi et al. (2020), "The State and Fate of Linguistic Diversity and Inclusion in the NLP World": the
# resource class (0-5) of each XTREME language.
JOSHI_CLASS: dict[str, int] = {
    **dict.fromkeys(["ar", "de", "en", "es", "fr", "ja", "zh"], 5),
    **dict.fromkeys(["eu", "fa", "fi", "hi", "hu", "it", "ko", "nl", "pt", "ru", "tr", "vi"], 4),
    **dict.fromkeys(["af", "bg", "bn", "el", "et", "he", "id", "ka", "kk", "ms", "ta", "th", "tl", "ur"], 3),
    **dict.fromkeys(["mr", "sw", "yo"], 2),
    **dict.fromkeys(["jv", "ml", "my", "te"], 1),
}

# Writing script of each language; drives how the offline world renders its words.
SCRIPT: dict[str, str] = {
    **dict.fromkeys(
        [
            "af",
            "de",
            "en",
            "es",
            "et",
            "eu",
            "fi",
            "fr",
            "hu",
            "id",
            "it",
            "jv",
            "ms",
            "nl",
            "pt",
            "sw",
            "tl",
            "tr",
            "vi",
            "yo",
        ],
        "latin",
    ),
    **dict.fromkeys(["bg", "kk", "ru"], "cyrillic"),
    **dict.fromkeys(["ar", "fa", "ur"], "arabic"),
    **dict.fromkeys(["hi", "mr"], "devanagari"),
    "el": "greek",
    "he": "hebrew",
    "th": "thai",
    "ka": "georgian",
    "ko": "hangul",
    "ja": "kana",
    "zh": "han",
    "bn": "bengali",
    "ta": "tamil",
    "te": "telugu",
    "ml": "malayalam",
    "my": "myanmar",
}

# Languages whose basic order is subject-object-verb; the offline world mirrors it.
SOV = frozenset(["bn", "eu", "fa", "hi", "ja", "ka", "kk", "ko", "mr", "my", "ta", "te", "tr", "ur"])

TIERS = ("high", "mid", "low")


DEFAULT_LOW_MAX_CLASS = 2  # Joshi et al. 2020's classes 0-2: the "left-behind" to "hopefuls"


def is_low_resource(lang: str, max_class: int = DEFAULT_LOW_MAX_CLASS) -> bool:
    """The one definition of low-resource: a non-English language of Joshi class at most `max_class` (an
    experiment's `target.low_resource_max_class`), used by the sweep, the evaluation, the tiers and the plots."""
    return lang != "en" and JOSHI_CLASS[lang] <= max_class


def resource_tier(lang: str, max_class: int = DEFAULT_LOW_MAX_CLASS) -> str:
    """Return 'low' for a low-resource language (`is_low_resource`), else 'high' for classes 4-5 and 'mid'
    for the classes between; the 'low' tier is exactly the low-resource set whatever `max_class` is."""
    if is_low_resource(lang, max_class):
        return "low"
    return "high" if JOSHI_CLASS[lang] >= 4 or lang == "en" else "mid"


def low_resource_langs(langs: list[str], max_class: int) -> list[str]:
    """Return the languages of `langs` whose Joshi class is at most `max_class`, English excluded."""
    return [lang for lang in langs if is_low_resource(lang, max_class)]


# English names used by the `udpos.<Name>` configs of the hub's xtreme data set.
LANG_NAME: dict[str, str] = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "jv": "Javanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "ko": "Korean",
    "ml": "Malayalam",
    "mr": "Marathi",
    "ms": "Malay",
    "my": "Burmese",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "yo": "Yoruba",
    "zh": "Chinese",
}

# ISO 639-3 codes of the hub's `google/xtreme` `tatoeba.<code>` configs (zh = cmn, fa = pes, sw = swh).
ISO3: dict[str, str] = {
    "af": "afr",
    "ar": "ara",
    "bg": "bul",
    "bn": "ben",
    "de": "deu",
    "el": "ell",
    "en": "eng",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "pes",
    "fi": "fin",
    "fr": "fra",
    "he": "heb",
    "hi": "hin",
    "hu": "hun",
    "id": "ind",
    "it": "ita",
    "ja": "jpn",
    "jv": "jav",
    "ka": "kat",
    "kk": "kaz",
    "ko": "kor",
    "ml": "mal",
    "mr": "mar",
    "nl": "nld",
    "pt": "por",
    "ru": "rus",
    "sw": "swh",
    "ta": "tam",
    "te": "tel",
    "th": "tha",
    "tl": "tgl",
    "tr": "tur",
    "ur": "urd",
    "vi": "vie",
    "zh": "cmn",
}


def placeholders(lang: str) -> dict[str, str]:
    """Values for a source config template: {lang}, {lang_name}, {lang_lower} and {iso3}."""
    name = LANG_NAME.get(lang, lang)
    return {"lang": lang, "lang_name": name, "lang_lower": name.lower(), "iso3": ISO3.get(lang, lang)}
