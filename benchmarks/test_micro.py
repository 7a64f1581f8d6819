"""Microbenchmarks (pytest-benchmark): ``pytest benchmarks/ --benchmark-enable``.

Each also asserts its result, so with benchmarks disabled (the default) it is a
quick correctness run of the same code.
"""

import pytest

from vatrt._kernel.state.keeper import KernelKeeper
from vatrt._marshal import decode, encode
from vatrt._store.memory import MemoryKVStore
from vatrt._store.sqlite import SQLiteKVStore


class Ref:
    def __init__(self, ref):
        self.ref = ref


VALUE = {
    "method": "transfer",
    "amounts": [1, 2, 3, 2**70],
    "memo": ("a", b"\x00\x01", None, True, 1.5),
    "peers": [Ref("o-5"), Ref("o-6"), Ref("o-5")],
}


def to_slot(x):
    return (x.ref, "Peer") if isinstance(x, Ref) else None


def test_capdata_round_trip(benchmark):
    def round_trip():
        return decode(encode(VALUE, to_slot), lambda ref, iface: Ref(ref))

    value = benchmark(round_trip)
    assert [p.ref for p in value["peers"]] == ["o-5", "o-6", "o-5"]
    assert value["amounts"][3] == 2**70


def test_clist_translation_of_a_message(benchmark):
    kv = MemoryKVStore()
    keeper = KernelKeeper(kv)
    exporter, importer = keeper.vat("v1").clist, keeper.vat("v2").clist
    krefs = [exporter.to_kernel(f"o+{i}") for i in range(1, 5)]
    capdata = {"body": "[]", "slots": krefs}

    def translate():
        return importer.capdata_to_vat(capdata)

    translated = benchmark(translate)
    assert translated["slots"] == ["o-50", "o-51", "o-52", "o-53"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_writes_per_crank(benchmark, kind, tmp_path):
    kv = MemoryKVStore() if kind == "memory" else SQLiteKVStore(tmp_path / "kv.sqlite")
    counter = iter(range(10**9))

    def crank():
        n = next(counter)
        kv.begin_crank()
        for i in range(5):
            kv.set(f"v1.c.ko{n}-{i}", "R o-5")
        kv.commit_crank()
        if n % 100 == 99:
            kv.commit()

    benchmark(crank)
    kv.commit()
    assert kv.get("v1.c.ko0-4") == "R o-5"
    kv.close()
