"""Unknown names: one error type whose message lists near matches and the valid names (after lm-eval)."""

from __future__ import annotations

import difflib

from xstilts.core.errors import InputError


class UnknownNameError(InputError, ValueError):
    """An unknown task, language, metric or experiment name; the message lists near matches and valid names."""


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    """Return "Unknown KIND 'name'. Did you mean …? Available: …" (after lm-eval's registry)."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(valid))}"
