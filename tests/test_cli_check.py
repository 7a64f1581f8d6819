"""``vatrt check CONFIG``: validate a config and its bundles without running anything."""

from pathlib import Path

import orjson
from click.testing import CliRunner

from vatrt.cli import main

PEER = """
from vatrt.vat import Far

def build_root_object(vat_powers, vat_parameters, baggage):
    return Far("Peer", whoami=lambda: vat_parameters)
"""


def vatrt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def said(result):
    return " ".join(result.output.split())


def gossip(tmp_path, extra=""):
    (tmp_path / "peer.py").write_text(PEER)
    path = tmp_path / "gossip.toml"
    path.write_text(
        'bootstrap = "peer-0"\n[bundles]\npeer = "peer.py"\n'
        '[vats.peer]\nbundle = "peer"\ncount = 200\n'
        'parameters = { index = "{index}" }\n' + extra
    )
    return path


def test_check_lists_the_vats_and_bundles_of_a_good_config_and_exits_0(tmp_path):
    result = vatrt("check", gossip(tmp_path))
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "peer-0 … peer-199" in text
    assert "(200 copies of [vats.peer])" in text
    assert "{'index': 0}" in text
    assert "{'index': 199}" in text
    assert "ok: 200 vats, 1 bundle; bootstrap: peer-0" in text


def test_check_all_lists_every_copy(tmp_path):
    result = vatrt("check", gossip(tmp_path), "--all")
    assert result.exit_code == 0
    assert "peer-137" in result.output


def test_check_json_gives_every_vat_with_its_resolved_options(tmp_path):
    result = vatrt("check", gossip(tmp_path), "--json")
    assert result.exit_code == 0
    record = orjson.loads(result.output)
    assert len(record["vats"]) == 200
    assert record["vats"][7] == {
        "name": "peer-7",
        "bundle": "peer",
        "parameters": {"index": 7},
        "critical": False,
        "vat_admin": False,
        "worker": "local",
        "host": None,
        "limits": None,
        "restart": None,
        "reap_interval": 1000,
        "restart_every": None,
        "max_turns": record["max_turns"],
        "bootstrap": False,
        "copy_of": "peer",
    }
    assert record["groups"]["peer"][-1] == "peer-199"
    assert record["bundles"]["peer"]["id"].startswith("b1-")


def test_check_json_gives_a_vats_restart_every_and_null_for_the_others(tmp_path):
    (tmp_path / "peer.py").write_text(PEER)
    (tmp_path / "durable.py").write_text('VAT_STATE = "durable"\n' + PEER)
    path = tmp_path / "restarts.toml"
    path.write_text(
        '[bundles]\npeer = "peer.py"\ndurable = "durable.py"\n'
        '[vats.keeper]\nbundle = "durable"\nrestart_every = 50\n'
        '[vats.plain]\nbundle = "peer"\n'
    )
    result = vatrt("check", path, "--json")
    assert result.exit_code == 0, result.output
    vats = {vat["name"]: vat for vat in orjson.loads(result.output)["vats"]}
    assert vats["keeper"]["restart_every"] == 50
    assert vats["plain"]["restart_every"] is None


def test_check_does_not_start_any_vat(tmp_path):
    path = gossip(tmp_path)
    (tmp_path / "peer.py").write_text(
        PEER.replace("    return Far", "    raise SystemExit('ran')\n    return Far")
    )
    assert vatrt("check", path).exit_code == 0


def test_check_exits_2_naming_a_bad_key(tmp_path):
    result = vatrt("check", gossip(tmp_path, "critcal = true\n"))
    assert result.exit_code == 2
    assert "invalid config in" in said(result)
    assert "critcal" in said(result)


def test_check_exits_2_naming_a_bundle_that_does_not_load(tmp_path):
    path = gossip(tmp_path)
    (tmp_path / "peer.py").write_text("def build_root_object(:\n")
    result = vatrt("check", path)
    assert result.exit_code == 2
    assert "peer.py" in said(result)
    assert "Traceback" not in result.output


def test_check_exits_2_naming_a_parameter_that_is_not_passable(tmp_path):
    path = tmp_path / "bad.toml"
    (tmp_path / "peer.py").write_text(PEER)
    path.write_text(
        '[bundles]\npeer = "peer.py"\n[vats.p]\nbundle = "peer"\nparameters = { when = 1979-05-27 }\n'
    )
    result = vatrt("check", path)
    assert result.exit_code == 2
    assert "vats.p.parameters" in said(result)


def test_check_of_every_shipped_config_passes():
    bundles = Path(__file__).resolve().parent.parent / "bundles"
    for config in sorted(bundles.glob("*.toml")):
        result = vatrt("check", config)
        assert result.exit_code == 0, (config, result.output)
    assert "(200 copies of [vats.peer])" in said(vatrt("check", bundles / "gossip.toml"))
    assert "subprocess on host left" in said(vatrt("check", bundles / "payments-on-hosts.toml"))


def test_check_warns_of_a_template_in_a_table_without_count(tmp_path):
    (tmp_path / "peer.py").write_text(PEER)
    path = tmp_path / "one.toml"
    path.write_text(
        '[bundles]\npeer = "peer.py"\n[vats.p]\nbundle = "peer"\nparameters = { index = "{index}", ok = "{x}" }\n'
    )
    result = vatrt("check", path)
    assert result.exit_code == 0
    assert (
        "warning: vats.p.parameters.index is '{index}', kept as written: [vats.p] has no count"
        in said(result)
    )
    assert "parameters.ok" not in said(result)
    assert orjson.loads(vatrt("check", path, "--json").output)["warnings"] == [
        "vats.p.parameters.index is '{index}', kept as written: [vats.p] has no count, so nothing fills it in"
    ]
