"""The records at the kernel/vat boundary and their one codec: the wire is the lists
transcripts have always kept."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vatrt._protocol import (
    OK,
    BringOutYourDead,
    CallKernelHook,
    DropExports,
    DropImports,
    Exit,
    Failed,
    Message,
    Msg,
    Notify,
    ProtocolError,
    Resolution,
    Resolve,
    RetireExports,
    RetireImports,
    Send,
    StartVat,
    Subscribe,
    TranscriptEntry,
    VatstoreDelete,
    VatstoreGet,
    VatstoreGetKeys,
    VatstoreSet,
    decode_answer,
    decode_delivery,
    decode_syscall,
    decode_transcript_entry,
    encode,
)

CAP = {"body": '["ping",[1]]', "slots": ["o-50"]}
NONE = {"body": "null", "slots": []}

# Each record next to the list it was before records existed.
DELIVERIES = [
    (
        Message("o+0", Msg(CAP, "p-1")),
        ["message", "o+0", {"methargs": CAP, "result": "p-1"}],
    ),
    (Message("p-3", Msg(CAP, None)), ["message", "p-3", {"methargs": CAP, "result": None}]),
    (
        Notify([Resolution("p+1", False, NONE), Resolution("p+2", True, CAP)]),
        ["notify", [["p+1", False, NONE], ["p+2", True, CAP]]],
    ),
    (DropExports(["o+1", "o+2"]), ["dropExports", ["o+1", "o+2"]]),
    (RetireExports(["o+1"]), ["retireExports", ["o+1"]]),
    (RetireImports(["o-50"]), ["retireImports", ["o-50"]]),
    (BringOutYourDead(), ["bringOutYourDead"]),
    (StartVat(NONE, ["o-51"], CAP), ["startVat", NONE, ["o-51"], CAP]),
]
SYSCALLS = [
    (Send("o-50", Msg(CAP, "p+1")), ["send", "o-50", {"methargs": CAP, "result": "p+1"}]),
    (Send("o-50", Msg(CAP, None)), ["send", "o-50", {"methargs": CAP, "result": None}]),
    (Subscribe("p+1"), ["subscribe", "p+1"]),
    (Resolve([Resolution("p-1", False, CAP)]), ["resolve", [["p-1", False, CAP]]]),
    (Exit(True, NONE), ["exit", True, NONE]),
    (DropImports(["o-50"]), ["dropImports", ["o-50"]]),
    (RetireImports(["o-50"]), ["retireImports", ["o-50"]]),
    (RetireExports(["o+3"]), ["retireExports", ["o+3"]]),
    (VatstoreGet("baggage.k"), ["vatstoreGet", "baggage.k"]),
    (VatstoreSet("baggage.k", '{"body":"1"}'), ["vatstoreSet", "baggage.k", '{"body":"1"}']),
    (VatstoreDelete("baggage.k"), ["vatstoreDelete", "baggage.k"]),
    (VatstoreGetKeys("baggage."), ["vatstoreGetKeys", "baggage."]),
    (CallKernelHook("createVat", CAP), ["callKernelHook", "createVat", CAP]),
]
ANSWERS = [(OK, ["ok"]), (Failed("VatFatal: gone"), ["error", "VatFatal: gone"])]


@pytest.mark.parametrize(("record", "wire"), DELIVERIES, ids=lambda x: type(x).__name__)
def test_every_delivery_encodes_as_its_list_and_decodes_back(record, wire):
    assert encode(record) == orjson.dumps(wire)
    assert decode_delivery(encode(record)) == record
    assert decode_delivery(orjson.dumps(wire)) == record


@pytest.mark.parametrize(("record", "wire"), SYSCALLS, ids=lambda x: type(x).__name__)
def test_every_syscall_encodes_as_its_list_and_decodes_back(record, wire):
    assert encode(record) == orjson.dumps(wire)
    assert decode_syscall(encode(record)) == record


@pytest.mark.parametrize(("record", "wire"), ANSWERS, ids=lambda x: type(x).__name__)
def test_every_answer_encodes_as_its_list_and_decodes_back(record, wire):
    assert encode(record) == orjson.dumps(wire)
    assert decode_answer(encode(record)) == record


def test_a_send_is_the_list_shape_kind_first():
    send = Send("o-50", Msg({"body": "[]", "slots": []}, None))
    assert encode(send) == b'["send","o-50",{"methargs":{"body":"[]","slots":[]},"result":null}]'


def test_a_start_vat_without_imports_or_powers_still_decodes():
    assert decode_delivery(b'["startVat",{"body":"null","slots":[]}]') == StartVat(NONE, [], None)


def test_an_unknown_kind_is_an_error_naming_it():
    with pytest.raises(ProtocolError, match=r"unknown delivery kind 'teleport'"):
        decode_delivery(b'["teleport",[]]')
    with pytest.raises(ProtocolError, match=r"unknown syscall kind 'message'"):
        decode_syscall(orjson.dumps(DELIVERIES[0][1]))  # a delivery is no syscall
    with pytest.raises(ProtocolError, match=r"unknown answer kind 'maybe'"):
        decode_answer(b'["maybe"]')


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"not json", r"a delivery frame that is not JSON"),
        (b'{"kind":"message"}', r"a delivery is a JSON list, its kind first"),
        (b"[]", r"a delivery is a JSON list, its kind first"),
        (b'["message","o+0"]', r"malformed delivery 'message': .*at least length 3"),
        (b'["notify",[["p-1",1,{"body":"1","slots":[]}]]]', r"'notify': Expected `bool`"),
        (b'["dropExports","o+1"]', r"malformed delivery 'dropExports': Expected `array`"),
    ],
)
def test_a_malformed_frame_is_an_error_saying_what_is_wrong(frame, message):
    with pytest.raises(ProtocolError, match=message):
        decode_delivery(frame)


def test_a_transcript_entry_written_as_lists_before_records_still_decodes():
    # As vat_keeper.record_delivery wrote it with orjson before records existed.
    old = orjson.dumps(
        {
            "d": ["message", "o+0", {"methargs": CAP, "result": "p-1"}],
            "s": [
                [["vatstoreGet", "baggage.n"], None],
                [["vatstoreSet", "baggage.n", "5"], None],
                [["send", "o-50", {"methargs": CAP, "result": "p+1"}], None],
                [["subscribe", "p+1"], None],
                [["vatstoreGetKeys", "baggage."], ["baggage.n"]],
                [["callKernelHook", "createVat", CAP], ["ok", NONE]],
            ],
        }
    ).decode()
    entry = decode_transcript_entry(old)
    assert entry.delivery == Message("o+0", Msg(CAP, "p-1"))
    assert entry.syscalls == [
        (VatstoreGet("baggage.n"), None),
        (VatstoreSet("baggage.n", "5"), None),
        (Send("o-50", Msg(CAP, "p+1")), None),
        (Subscribe("p+1"), None),
        (VatstoreGetKeys("baggage."), ["baggage.n"]),
        (CallKernelHook("createVat", CAP), ["ok", NONE]),
    ]
    assert encode(entry).decode() == old  # and writes back byte for byte


def test_a_malformed_transcript_entry_is_an_error():
    with pytest.raises(ProtocolError, match="malformed transcript entry"):
        decode_transcript_entry('{"d":["bringOutYourDead"],"s":[[["teleport"],null]]}')


# Any string a vat may put in a vref, key, value or capdata body.
texts = st.text(st.characters(codec="utf-8"), max_size=20)
capdatas = st.fixed_dictionaries({"body": texts, "slots": st.lists(texts, max_size=3)})


@given(key=texts, value=texts, data=capdatas, rejected=st.booleans())
def test_the_codec_writes_what_orjson_wrote_for_any_strings(key, value, data, rejected):
    for record, wire in [
        (VatstoreSet(key, value), ["vatstoreSet", key, value]),
        (Resolve([Resolution(key, rejected, data)]), ["resolve", [[key, rejected, data]]]),
        (Message(key, Msg(data, value)), ["message", key, {"methargs": data, "result": value}]),
    ]:
        assert encode(record) == orjson.dumps(wire)
    assert decode_syscall(encode(VatstoreSet(key, value))) == VatstoreSet(key, value)


def test_records_are_values():
    assert Subscribe("p+1") == Subscribe("p+1")
    assert hash(Subscribe("p+1")) == hash(Subscribe("p+1"))
    with pytest.raises(AttributeError):
        Subscribe("p+1").vpid = "p+2"
    assert TranscriptEntry(BringOutYourDead(), []) == decode_transcript_entry(
        '{"d":["bringOutYourDead"],"s":[]}'
    )
