"""Named crash points, for crash-safety tests.

``VATRT_CRASH_AT=<site>`` (or ``<site>:<n>`` for the n-th time the site is
reached) makes the process ``os._exit`` there, as a kill -9 would: no cleanup, no
commit. Sites: ``mid-crank``, ``between-state-and-transcript``, ``mid-upgrade``,
``mid-upgrade-all``. Unset, a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os

_hits: dict[str, int] = {}
EXIT_CODE = 86


def crash_point(site: str) -> None:
    wanted = os.environ.get("VATRT_CRASH_AT")
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != site:
        return
    _hits[site] = _hits.get(site, 0) + 1
    if _hits[site] >= int(nth or 1):
        os._exit(EXIT_CODE)
