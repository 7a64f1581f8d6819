"""Deliveries, syscalls and answers: the records that cross the kernel/vat boundary.

Both sides build and read these records; the kernel never sees liveslots' objects
and liveslots never sees the kernel's. A worker in the kernel's process hands
the records over as they are; a worker in another process sends them as frames
made by the one codec here, `encode` and the ``decode_*`` functions. The frames
are the JSON lists transcripts have always kept, kind first::

    deliveries  ["message", target, {"methargs": capdata, "result": vpid | null}]
                ["notify", [[vpid, rejected, capdata], ...]]
                ["dropExports", vrefs]  ["retireExports", vrefs]  ["retireImports", vrefs]
                ["bringOutYourDead"]
                ["startVat", capdata, inherited_import_vrefs, powers_capdata]
    answers     ["ok"]  ["error", why]
    syscalls    ["send", target, {"methargs": capdata, "result": vpid | null}]
                ["subscribe", vpid]  ["resolve", [[vpid, rejected, capdata], ...]]
                ["exit", failure, capdata]
                ["dropImports", vrefs]  ["retireImports", vrefs]  ["retireExports", vrefs]
                ["vatstoreGet", key]  ["vatstoreSet", key, value]
                ["vatstoreDelete", key]  ["vatstoreGetKeys", prefix]
                ["callKernelHook", name, capdata]
                ["callNow", device_vref, method, capdata]
                                (its result: ["ok", capdata] | ["error", why, name])
    transcript  {"d": delivery, "s": [[syscall, result], ...]}

so a store written before these records existed replays unchanged. They are
msgspec Structs: as cheap to build as the lists were, and the codec checks each
field's type on the way in (see docs/performance.md, "Records at the boundary").

``retireImports`` and ``retireExports`` are both deliveries and syscalls, as in
SwingSet: one record each, in both unions; which one it is depends on the
direction it travels.

This module imports no kernel, no liveslots and no anyio: it is the base both
sides stand on.
"""

from collections.abc import Callable
from typing import Any, Final, get_args

import msgspec

from ._marshal import CapData


class ProtocolError(ValueError):
    """A frame that is not a record of the kind expected, with what is wrong."""


# gc=False: a record holds JSON-able data only, which never refers back to it, so
# the cycle collector need not track it (cheaper to build, fewer collections).
# Each record says frozen=True again: mypy does not see it inherited.
class _Record(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A delivery, syscall or answer: a JSON list, its kind (the tag) first."""


class Msg(msgspec.Struct, frozen=True, gc=False):
    """A message: method and arguments (capdata), and its result promise or None."""

    methargs: CapData
    result: str | None


class Resolution(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One promise settled: ``[vpid, rejected, capdata]``."""

    vpid: str
    rejected: bool
    data: CapData


# The three shapes that both directions use: a message to a target, promises
# settled, a list of vrefs. Each record below is one of them with its own kind.


class _ToTarget(_Record, frozen=True):
    target: str
    msg: Msg


class _Settles(_Record, frozen=True):
    resolutions: list[Resolution]


class _Vrefs(_Record, frozen=True):
    vrefs: list[str]


# -- deliveries: kernel -> vat ---------------------------------------------------------


class Message(_ToTarget, tag="message", frozen=True):
    """Call a method of an export (or send on to a promise the vat decides)."""


class Notify(_Settles, tag="notify", frozen=True):
    """Promises the vat imported or subscribed to have settled."""


class DropExports(_Vrefs, tag="dropExports", frozen=True):
    """Nothing outside the vat reaches these exports any more."""


class RetireExports(_Vrefs, tag="retireExports", frozen=True):
    """As a delivery: nothing outside the vat recognizes these exports any more.
    As a syscall: the vat forgot these exports (no one reaches them)."""


class RetireImports(_Vrefs, tag="retireImports", frozen=True):
    """As a delivery: these imports' exporter retired them. As a syscall: the vat
    no longer recognizes these imports."""


class BringOutYourDead(_Record, tag="bringOutYourDead", frozen=True):
    """Collect garbage now, and report the drops and retires."""


class StartVat(_Record, tag="startVat", frozen=True):
    """Start an incarnation: its vatParameters, the imports an earlier incarnation
    left in the c-list, and the powers its config grants (capdata)."""

    parameters: CapData
    inherited_imports: list[str] = []
    powers: CapData | None = None


Delivery = (
    Message | Notify | DropExports | RetireExports | RetireImports | BringOutYourDead | StartVat
)


# -- answers: vat -> kernel, one per delivery ------------------------------------------


class Ok(_Record, tag="ok", frozen=True):
    pass


class Failed(_Record, tag="error", frozen=True):
    """liveslots could not go on with the vat: the delivery is fatal to it."""

    why: str


Answer = Ok | Failed

#: The answer of every delivery that went well.
OK: Final = Ok()


# -- syscalls: vat -> kernel, during a delivery -----------------------------------------


class Send(_ToTarget, tag="send", frozen=True):
    """An eventual send to an import or a promise."""


class Subscribe(_Record, tag="subscribe", frozen=True):
    vpid: str


class Resolve(_Settles, tag="resolve", frozen=True):
    """Settle promises the vat decides."""


class Exit(_Record, tag="exit", frozen=True):
    failure: bool
    info: CapData


class DropImports(_Vrefs, tag="dropImports", frozen=True):
    """The vat no longer reaches these imports."""


class VatstoreGet(_Record, tag="vatstoreGet", frozen=True):
    key: str


class VatstoreSet(_Record, tag="vatstoreSet", frozen=True):
    key: str
    value: str


class VatstoreDelete(_Record, tag="vatstoreDelete", frozen=True):
    key: str


class VatstoreGetKeys(_Record, tag="vatstoreGetKeys", frozen=True):
    prefix: str


class CallKernelHook(_Record, tag="callKernelHook", frozen=True):
    name: str
    args: CapData


class CallNow(_Record, tag="callNow", frozen=True):
    """Invoke a device node synchronously (SwingSet's ``syscall.callNow``): the
    result comes back within the syscall, so a subprocess worker waits for it."""

    target: str
    method: str
    args: CapData


Syscall = (
    Send
    | Subscribe
    | Resolve
    | Exit
    | DropImports
    | RetireImports
    | RetireExports
    | VatstoreGet
    | VatstoreSet
    | VatstoreDelete
    | VatstoreGetKeys
    | CallKernelHook
    | CallNow
)

#: How a vat's syscalls reach the kernel: called during a delivery, returns the
#: result (JSON-able: a transcript keeps it).
SyscallFn = Callable[[Syscall], Any]


class TranscriptEntry(msgspec.Struct, frozen=True, gc=False):
    """One delivery of a transcript, with each of its syscalls and their results."""

    delivery: Delivery = msgspec.field(name="d")
    syscalls: list[tuple[Syscall, Any]] = msgspec.field(name="s")


# -- the codec ---------------------------------------------------------------------------

#: Any record (or a JSON-able value holding records) -> its JSON bytes.
encode: Final[Callable[[Any], bytes]] = msgspec.json.Encoder().encode


def decode_delivery(frame: bytes | str) -> Delivery:
    """The delivery `frame` holds; `ProtocolError` if it holds none."""
    try:
        return _delivery_decoder.decode(frame)
    except msgspec.DecodeError as e:  # a ValidationError too
        raise ProtocolError(_explain("delivery", _DELIVERY_KINDS, frame, e)) from None


def decode_syscall(frame: bytes | str) -> Syscall:
    """The syscall `frame` holds; `ProtocolError` if it holds none."""
    try:
        return _syscall_decoder.decode(frame)
    except msgspec.DecodeError as e:
        raise ProtocolError(_explain("syscall", _SYSCALL_KINDS, frame, e)) from None


def decode_answer(frame: bytes | str) -> Answer:
    """The answer to a delivery `frame` holds; `ProtocolError` if it holds none."""
    try:
        return _answer_decoder.decode(frame)
    except msgspec.DecodeError as e:
        raise ProtocolError(_explain("answer", _ANSWER_KINDS, frame, e)) from None


def decode_transcript_entry(frame: bytes | str) -> TranscriptEntry:
    """One transcript entry; `ProtocolError` naming what is wrong with it."""
    try:
        return _transcript_decoder.decode(frame)
    except msgspec.DecodeError as e:
        raise ProtocolError(f"malformed transcript entry: {e}: {_shown(frame)}") from None


_delivery_decoder = msgspec.json.Decoder(Delivery)
_syscall_decoder = msgspec.json.Decoder(Syscall)
_answer_decoder = msgspec.json.Decoder(Answer)
_transcript_decoder = msgspec.json.Decoder(TranscriptEntry)


def _kinds(union: Any) -> frozenset[str]:
    return frozenset(cls.__struct_config__.tag for cls in get_args(union))


_DELIVERY_KINDS = _kinds(Delivery)
_SYSCALL_KINDS = _kinds(Syscall)
_ANSWER_KINDS = _kinds(Answer)


def _explain(what: str, kinds: frozenset[str], frame: bytes | str, error: Exception) -> str:
    """What is wrong with `frame`, in the terms of the wire format."""
    try:
        value = msgspec.json.decode(frame)
    except msgspec.DecodeError:
        return f"a {what} frame that is not JSON ({error}): {_shown(frame)}"
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        return f"a {what} is a JSON list, its kind first, not {_shown(frame)}"
    if value[0] not in kinds:
        return f"unknown {what} kind {value[0]!r} (known: {', '.join(sorted(kinds))})"
    return f"malformed {what} {value[0]!r}: {error}: {_shown(frame)}"


def _shown(frame: bytes | str) -> str:
    return repr(frame[:200]) + ("..." if len(frame) > 200 else "")
