"""Loading configs: dicts, TOML and JSON files, and clear errors naming the place."""

import json
import re

import pytest

from vatrt.config import load_config, resolve_bundle_path
from vatrt.errors import ConfigError, VatrtError

GOOD = {
    "bootstrap": "alice",
    "bundles": {"b": "bundles/b.py"},
    "vats": {
        "alice": {"bundle": "b", "parameters": {"n": 1}, "critical": True},
        "bob": {"bundle": "b"},
    },
}

GOOD_TOML = """\
bootstrap = "alice"
[bundles]
b = "bundles/b.py"
[vats.alice]
bundle = "b"
parameters = { n = 1 }
critical = true
[vats.bob]
bundle = "b"
"""


def test_a_dict_config_loads_with_defaults():
    cfg = load_config(GOOD)
    assert cfg.bootstrap == "alice"
    assert list(cfg.vats) == ["alice", "bob"]
    assert cfg.vats["alice"].parameters == {"n": 1}
    assert cfg.vats["alice"].critical is True
    bob = cfg.vats["bob"]
    assert (bob.parameters, bob.critical, bob.reap_interval, bob.vat_admin) == (
        None,
        False,
        None,
        False,
    )


def test_a_dict_config_is_not_changed_by_loading_it():
    config = json.loads(json.dumps(GOOD))
    load_config(config)
    assert config == GOOD


def test_a_config_with_no_vats_loads():
    assert load_config({}).vats == {}


@pytest.mark.parametrize(("name", "text"), [("c.toml", GOOD_TOML), ("c.json", json.dumps(GOOD))])
def test_a_file_config_loads_with_bundle_paths_relative_to_it(tmp_path, name, text):
    path = tmp_path / "sims" / name
    path.parent.mkdir()
    path.write_text(text)
    cfg = load_config(path)
    assert cfg == load_config({**GOOD, "base_dir": str(path.parent.resolve())})
    assert resolve_bundle_path(cfg, "b") == path.parent.resolve() / "bundles" / "b.py"
    assert load_config(str(path)) == cfg


def config_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["sim.toml", "sim.json"])
def test_an_unknown_top_level_key_names_the_key_and_the_file(tmp_path, name):
    config = {**GOOD, "bundel": {"b": "b.py"}}
    text = (
        json.dumps(config)
        if name.endswith(".json")
        else GOOD_TOML.replace("[bundles]", 'bundel = "x"\n[bundles]')
    )
    path = config_file(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "bundel" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["sim.toml", "sim.json"])
def test_an_unknown_key_in_a_vat_names_the_key_the_vat_and_the_file(tmp_path, name):
    config = json.loads(json.dumps(GOOD))
    config["vats"]["bob"]["critcal"] = True
    text = json.dumps(config) if name.endswith(".json") else GOOD_TOML + "critcal = true\n"
    path = config_file(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "critcal" in message
    assert "bob" in message
    assert str(path) in message


def test_an_unknown_key_in_a_dict_config_is_named():
    with pytest.raises(ConfigError, match=r"extra fields found \(bundels\)"):
        load_config({**GOOD, "bundels": {}})


def test_a_config_file_cannot_set_base_dir(tmp_path):
    path = config_file(tmp_path, "sim.json", json.dumps({**GOOD, "base_dir": "/elsewhere"}))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: unknown key 'base_dir'"):
        load_config(path)


def test_a_vat_whose_bundle_is_not_in_bundles_is_named(tmp_path):
    path = config_file(
        tmp_path,
        "sim.toml",
        GOOD_TOML.replace('[vats.bob]\nbundle = "b"', '[vats.bob]\nbundle = "counter"'),
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "vats.bob.bundle 'counter' is not in [bundles]" in message
    assert "known: b" in message
    assert str(path) in message


@pytest.mark.parametrize("name", ["has space", "", "a/b", "ü", "x" * 200, "bob!"])
def test_a_bad_vat_name_is_a_config_error_naming_it(name):
    with pytest.raises(ConfigError, match=re.escape(f"vat name {name!r}")):
        load_config({"bundles": {"b": "b.py"}, "vats": {name: {"bundle": "b"}}})


@pytest.mark.parametrize("name", ["a", "Bob-2.v_1", "x" * 199])
def test_good_vat_names_load(name):
    assert list(load_config({"bundles": {"b": "b.py"}, "vats": {name: {"bundle": "b"}}}).vats) == [
        name
    ]


def test_vat_admin_is_a_reserved_vat_name():
    with pytest.raises(ConfigError, match="vat name 'vat_admin' is reserved"):
        load_config({"bundles": {"b": "b.py"}, "vats": {"vat_admin": {"bundle": "b"}}})


def test_a_bootstrap_that_is_not_a_vat_is_named(tmp_path):
    path = config_file(
        tmp_path, "sim.toml", GOOD_TOML.replace('bootstrap = "alice"', 'bootstrap = "carol"')
    )
    with pytest.raises(ConfigError, match=r"bootstrap vat 'carol' is not in \[vats\]") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "extra",
    [
        {"reap_interval": 0},
        {"commit_every": 0},
        {"vats": {"alice": {"bundle": "b", "reap_interval": 0}}},
    ],
)
def test_intervals_below_one_are_refused(extra):
    with pytest.raises(ConfigError, match="must be >= 1"):
        load_config({**GOOD, **extra})


@pytest.mark.parametrize(
    ("vat", "field"),
    [
        ({"bundle": "b", "critical": "false"}, "critical"),
        ({"bundle": "b", "critical": "no"}, "critical"),
        ({"bundle": "b", "reap_interval": 1.5}, "reap_interval"),
        ({"bundle": "b", "parameters": [1, 2]}, "parameters"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_config_error_naming_the_field(vat, field):
    with pytest.raises(ConfigError, match=field):
        load_config({"bundles": {"b": "b.py"}, "vats": {"alice": vat}})


def test_unparsable_toml_names_the_file(tmp_path):
    path = config_file(tmp_path, "sim.toml", "[vats.alice\n")
    with pytest.raises(ConfigError, match=rf"cannot parse config {re.escape(str(path))}"):
        load_config(path)


def test_unparsable_json_names_the_file(tmp_path):
    path = config_file(tmp_path, "sim.json", '{"vats": ')
    with pytest.raises(ConfigError, match=rf"cannot parse config {re.escape(str(path))}"):
        load_config(path)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config .*missing\.toml"):
        load_config(tmp_path / "missing.toml")


def test_config_errors_are_vatrt_errors():
    with pytest.raises(VatrtError):
        load_config({"vats": {"alice": {"bundle": "nope"}}})
