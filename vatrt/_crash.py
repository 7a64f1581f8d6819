"""Named crash points, for crash-safety tests.

``VATRT_CRASH_AT=<site>`` (or ``<site>:<n>`` for the n-th time the site is
reached) makes the process ``os._exit`` there, as a kill -9 would: no cleanup, no
commit. Sites: ``mid-crank``, ``between-state-and-transcript``, ``mid-upgrade``,
``mid-upgrade-all``. The variable is read once, at import (crash tests set it in
the child's environment), so an unset crash point costs one global lookup.
"""

from __future__ import annotations

import os

_hits: dict[str, int] = {}
EXIT_CODE = 86
_WANTED = os.environ.get("VATRT_CRASH_AT") or None


def crash_point(site: str) -> None:
    if _WANTED is None:
        return
    name, _, nth = _WANTED.partition(":")
    if name != site:
        return
    _hits[site] = _hits.get(site, 0) + 1
    if _hits[site] >= int(nth or 1):
        os._exit(EXIT_CODE)
