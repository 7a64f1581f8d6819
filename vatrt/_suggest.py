"""A "did you mean ...?" for a name that is not known: a typo should cost one look.

Suggestions come from `difflib` over the names that are known, nearest first,
so the same mistake always gets the same suggestion (the text can end up in a
rejection, and a vat's rejections are part of its transcript).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_CUTOFF = 0.6  # difflib's own default: "bundel" -> "bundle", "alcie" -> "alice"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'alice'?"`` (or ``'alice' or 'alicia'``), or ``""`` when
    nothing known is close."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=2, cutoff=_CUTOFF)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
