"""Records for a syscall, two ways: attrs + cattrs + orjson against msgspec.

Times, for one ``send`` syscall (``["send", vref, {"methargs": capdata,
"result": vpid}]``): constructing the record, encoding it to JSON bytes, and
decoding the bytes back into a record (with the type checked). Run with
``python benchmarks/records.py``; the figures are in docs/performance.md.
"""

from __future__ import annotations

import timeit
from typing import Any

import attrs
import cattrs
import msgspec
import orjson

CAPDATA = {"body": '["answer",[1,{"@qclass":"slot","index":0}]]', "slots": ["o-50"]}


# -- attrs + cattrs + orjson -------------------------------------------------------


@attrs.frozen
class AMsg:
    methargs: dict[str, Any]
    result: str | None


@attrs.frozen
class ASend:
    target: str
    msg: AMsg


converter = cattrs.Converter()
converter.register_unstructure_hook(
    ASend,
    lambda s: ["send", s.target, {"methargs": s.msg.methargs, "result": s.msg.result}],
)


def a_structure(value: Any, _: type) -> ASend:
    kind, target, msg = value
    if kind != "send":
        raise ValueError(f"not a send: {kind!r}")
    return ASend(target, converter.structure(msg, AMsg))


converter.register_structure_hook(ASend, a_structure)


def a_encode(record: ASend) -> bytes:
    return orjson.dumps(converter.unstructure(record))


def a_decode(data: bytes) -> ASend:
    return converter.structure(orjson.loads(data), ASend)


# -- msgspec ----------------------------------------------------------------------


class MMsg(msgspec.Struct, frozen=True, gc=False):
    methargs: dict[str, Any]
    result: str | None


class MSend(msgspec.Struct, array_like=True, frozen=True, gc=False, tag="send"):
    target: str
    msg: MMsg


class MSubscribe(msgspec.Struct, array_like=True, frozen=True, gc=False, tag="subscribe"):
    vpid: str


m_encode = msgspec.json.Encoder().encode
m_decode = msgspec.json.Decoder(MSend | MSubscribe).decode


def main() -> None:
    a = ASend("o-50", AMsg(CAPDATA, "p+1"))
    m = MSend("o-50", MMsg(CAPDATA, "p+1"))
    assert (
        a_encode(a)
        == m_encode(m)
        == orjson.dumps(["send", "o-50", {"methargs": CAPDATA, "result": "p+1"}])
    )
    assert a_decode(a_encode(a)) == a
    assert m_decode(m_encode(m)) == m
    data = m_encode(m)

    def today() -> list[Any]:
        return ["send", "o-50", {"methargs": CAPDATA, "result": "p+1"}]

    listed = today()
    cases = {
        "construct": (
            today,
            lambda: ASend("o-50", AMsg(CAPDATA, "p+1")),
            lambda: MSend("o-50", MMsg(CAPDATA, "p+1")),
        ),
        "encode": (lambda: orjson.dumps(listed), lambda: a_encode(a), lambda: m_encode(m)),
        "decode": (lambda: orjson.loads(data), lambda: a_decode(data), lambda: m_decode(data)),
    }
    print("ns per call (best of 5) for one send syscall")
    print(f"{'':<10} {'list+orjson (today)':>20} {'attrs+cattrs+orjson':>20} {'msgspec':>8}")
    for name, fns in cases.items():
        n = 200_000
        times = [min(timeit.repeat(f, number=n, repeat=5)) / n * 1e9 for f in fns]
        print(
            f"{name:<10} "
            + " ".join(f"{t:>{w}.0f}" for t, w in zip(times, (20, 20, 8), strict=True))
        )


if __name__ == "__main__":
    main()
