"""Plain data without a Python walk: the fast path of `_marshal` and the kernel's
capdata check.

Most capdata bodies are plain JSON: no slot, no tuple, no bytes, no ``@qclass``.
For those, marshalling is what orjson does in C, and the per-node walk of
`_marshal` (~1.5 µs a node) is wasted. What the walk adds, and this module
checks without a per-node Python step:

- **Types.** The types of every node are gathered a level at a time with
  `gc.get_referents` (one C call a level, visiting what each container holds:
  a dict's values, and its keys unless they are all exact strs), and any type
  but the seven plain ones (str, int, float, bool, None, list, dict) sends the
  value to the walker, which alone calls ``to_slot``. That covers what orjson
  would write but capdata writes otherwise: tuples (orjson: arrays), enum
  members and UUIDs (their values), ``orjson.Fragment`` (raw JSON), subclasses
  of builtin types. Ints beyond 53 bits go to the walker too
  (``OPT_STRICT_INTEGER``): orjson would write up to 64 unsigned bits, the
  walker writes ``bigint`` beyond 63 signed ones.
- **NaN and infinities**, which orjson writes as ``null``: a float among the
  types and more ``null`` in the text than Nones in the value.
- **A dict with an ``"@qclass"`` key**, marshalled as a ``record``: its key
  shows in the text, which then goes to the walker.
- **Depth.** The same level-at-a-time traversal counts how deep the value
  nests; beyond the limit the walker says where, or finds the cycle.

On the way back, a body with neither ``@qclass`` nor a ``\\u`` escape (which
could spell it) decodes to exactly what orjson parses, so only its depth is
checked (`nests_within`).

**Parsed once.** The kernel parses every body a vat hands it, to check it
(`vatrt._kernel.capdata_check`); a local receiver would parse the same text
again. So the kernel's check leaves the tree of a plain body here
(`keep_parsed`) and the receiver's `decode` takes it (`take_parsed`): the text
is the key, the tree goes to the first decoder that asks and is forgotten, so
no two decoders ever share one (a tree is the receiver's to change). A body
decoded in another process (or thread: the trees are kept per thread), or
never, is dropped when the trees kept reach `_KEPT_MAX_CHARS` of text: the
cache only ever saves a parse, never changes an answer (equal texts parse to
equal trees).

The answers are the walker's, byte for byte, or None to let the walker run: the
fast path never changes what a value marshals to, only how fast.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import orjson

_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, dict})
# The types are checked first, so orjson only ever sees plain ones; ints beyond
# 53 bits still make it fail, leaving them to the walker.
_OPTIONS = orjson.OPT_STRICT_INTEGER
_referents = gc.get_referents


def plain_body(value: Any, max_depth: int) -> str | None:
    """`value`'s capdata body if it is plain JSON data nested at most `max_depth`
    containers deep (the root being level 1), else None.

    The types come first, a level at a time, and a level holding anything but
    plain data ends it there: a Far object's attributes are never looked into."""
    if type(value) not in _PLAIN_TYPES:
        return None
    floats = type(value) is float
    levels = [[value]]
    while True:
        children = _referents(*levels[-1])
        if not children:
            break
        if len(levels) >= max_depth:
            return None  # perhaps only leaves down there, or a cycle: the walker decides
        types = set(map(type, children))
        if not types <= _PLAIN_TYPES:
            return None
        floats = floats or float in types
        levels.append(children)
    try:
        body = orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:  # an int beyond 53 bits, a lone surrogate
        return None
    if b"@" in body and b'"@qclass"' in body:  # memchr first: most bodies have no "@"
        return None
    if floats and b"null" in body and _count_nulls(body) != sum(x.count(None) for x in levels):
        return None  # NaN or an infinity, which orjson wrote as null
    return body.decode()


def _count_nulls(body: bytes) -> int:
    """How many ``null`` tokens `body` has outside its strings."""
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[::2]).count(b"null")


def may_hold_qclass(body: str) -> bool:
    """Whether a parsed `body` can hold a ``@qclass`` key: spelled out, or behind a
    ``\\u`` escape. (A one-character search is memchr, ~50x faster than a
    longer one: most bodies have neither ``@`` nor a backslash.)"""
    return ("@" in body and "@qclass" in body) or ("\\" in body and "\\u" in body)


class _Kept(threading.local):
    """The trees of plain bodies the kernel checked, by text, with the depth they
    were checked to, for their receiver (see the module's docstring). Per
    thread: a kernel checks and its local vats decode in the kernel's thread,
    and kernels in other threads keep their own."""

    def __init__(self) -> None:
        self.trees: dict[str, tuple[Any, int]] = {}
        self.chars = 0


_kept = _Kept()
_KEPT_MAX_CHARS = 1 << 20


def keep_parsed(body: str, tree: Any, depth: int) -> None:
    """Keep the tree of plain `body`, which nests at most `depth` levels, for the
    body's one receiver."""
    kept = _kept
    if kept.chars + len(body) > _KEPT_MAX_CHARS:
        kept.trees.clear()  # all at once: an LRU's bookkeeping would cost more than a parse
        kept.chars = 0
    if body not in kept.trees:
        kept.chars += len(body)
    kept.trees[body] = (tree, depth)


def take_parsed(body: str, max_depth: int) -> Any:
    """The tree `keep_parsed` kept for `body` if it nests within `max_depth`, and
    forget it; else `NOT_KEPT`."""
    kept = _kept
    found = kept.trees.pop(body, None)
    if found is None:
        return NOT_KEPT
    kept.chars -= len(body)
    tree, depth = found
    return tree if depth <= max_depth else NOT_KEPT


NOT_KEPT: Any = object()


def nests_within(tree: Any, max_depth: int) -> bool:
    """Whether a parsed JSON `tree` nests at most `max_depth` containers deep (the
    root being level 1), found a level at a time: one `gc.get_referents` call
    per level, no Python step per node."""
    if type(tree) is not list and type(tree) is not dict:
        return True
    level = [tree]
    depth = 1
    while True:
        level = _referents(*level)
        if not level:
            return True
        depth += 1
        if depth > max_depth and any(type(x) is list or type(x) is dict for x in level):
            return False
