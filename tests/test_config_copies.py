"""``count = N`` on a vat table: N vats from one bundle, each with its own index."""

import pytest

import vatrt
from vatrt.config import load_config
from vatrt.errors import ConfigError

pytestmark = pytest.mark.anyio

PEER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Peer", whoami=lambda: vat_parameters)
"""

BUNDLES = {"peer": "peer.py"}


def copies(**table):
    return {"bundles": BUNDLES, "vats": {"peer": {"bundle": "peer", **table}}}


def test_a_count_table_makes_that_many_vats_named_by_index_in_order():
    cfg = load_config(copies(count=3))
    assert list(cfg.vats) == ["peer-0", "peer-1", "peer-2"]
    assert cfg.groups == {"peer": ("peer-0", "peer-1", "peer-2")}
    assert all(v.bundle == "peer" and v.count is None for v in cfg.vats.values())


def test_first_index_numbers_the_copies_from_there():
    cfg = load_config(copies(count=2, first_index=1))
    assert list(cfg.vats) == ["peer-1", "peer-2"]


def test_each_copy_gets_its_index_name_and_count_in_its_parameters_at_any_depth():
    parameters = {
        "index": "{index}",
        "label": "peer-{index:03d} of {count}",
        "literal": "{{index}}",
        "nested": [{"me": "{name}", "n": "{count}"}],
        "fixed": 7,
    }
    cfg = load_config(copies(count=2, parameters=parameters))
    assert cfg.vats["peer-1"].parameters == {
        "index": 1,
        "label": "peer-001 of 2",
        "literal": "{index}",
        "nested": [{"me": "peer-1", "n": 2}],
        "fixed": 7,
    }


def test_a_table_without_count_keeps_braces_in_its_parameters_as_written():
    cfg = load_config(
        {"bundles": BUNDLES, "vats": {"p": {"bundle": "peer", "parameters": {"s": "{index}"}}}}
    )
    assert cfg.vats["p"].parameters == {"s": "{index}"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"count": 0}, "vats.peer.count must be >= 1, not 0"),
        ({"count": "3"}, "expected int, not str '3' @ config.vats['peer'].count"),
        ({"count": 2, "first_index": -1}, "vats.peer.first_index must be >= 0, not -1"),
        ({"first_index": 2}, "vats.peer.first_index needs count"),
        (
            {"count": 2, "parameters": {"seed": "{idx}"}},
            "vats.peer.parameters.seed: unknown placeholder {idx} in '{idx}'",
        ),
        (
            {"count": 2, "parameters": {"l": ["{index"]}},
            "vats.peer.parameters.l[0]: '{index' is not a valid template",
        ),
        ({"count": 2, "bundle": "nosuch"}, "vats.peer.bundle 'nosuch' is not in [bundles]"),
    ],
)
def test_a_bad_count_table_is_refused_naming_the_table_and_key(table, message):
    with pytest.raises(ConfigError) as raised:
        load_config(copies(**table))
    assert message in str(raised.value)


def test_a_copy_whose_name_another_table_declares_is_refused_naming_both():
    config = copies(count=3)
    config["vats"]["peer-2"] = {"bundle": "peer"}
    with pytest.raises(
        ConfigError,
        match=r"vat 'peer-2' is declared twice, by \[vats.peer\] \(count = 3\) and by \[vats.peer-2\]",
    ):
        load_config(config)


def test_a_bootstrap_naming_a_count_table_is_told_to_name_one_copy():
    with pytest.raises(
        ConfigError, match=r"bootstrap vat 'peer' is a table of 4 copies .* such as 'peer-0'"
    ):
        load_config({**copies(count=4), "bootstrap": "peer"})


def test_groups_cannot_be_set_by_a_config():
    with pytest.raises(ConfigError, match="groups"):
        load_config({**copies(count=1), "groups": {"peer": ["x"]}})


def test_a_copy_name_past_the_name_limit_is_refused():
    with pytest.raises(ConfigError, match="must match"):
        load_config({"bundles": BUNDLES, "vats": {"p" * 198: {"bundle": "peer", "count": 11}}})


async def test_a_kernel_booted_from_a_count_table_runs_each_copy_with_its_own_parameters(
    anyio_backend, tmp_path
):
    (tmp_path / "peer.py").write_text(PEER)
    config = {**copies(count=5, parameters={"index": "{index}"}), "base_dir": str(tmp_path)}
    async with vatrt.open_kernel(config) as kernel:
        assert [await kernel.call(f"peer-{i}", "whoami") for i in range(5)] == [
            {"index": i} for i in range(5)
        ]
        assert kernel.vat_parameters(kernel.vat_id("peer-3")) == {"index": 3}
        kernel.audit()
