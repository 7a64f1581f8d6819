"""Loading configs: dicts, TOML and JSON files, and clear errors naming the place."""

import json

import pytest

from vatrt.config import load_config
from vatrt.errors import ConfigError

GOOD = {"bundles": {"b": "b.py"}, "vats": {"alice": {"bundle": "b", "parameters": {"n": 1}}}}


def test_a_dict_config_loads_with_defaults():
    cfg = load_config(GOOD)
    assert cfg.vats["alice"].parameters == {"n": 1}
    assert cfg.vats["alice"].critical is False
    assert cfg.bootstrap is None


def test_toml_and_json_files_load_with_paths_relative_to_them(tmp_path):
    (tmp_path / "c.toml").write_text('[bundles]\nb = "b.py"\n[vats.alice]\nbundle = "b"\n')
    (tmp_path / "c.json").write_text(json.dumps(GOOD))
    for name in ("c.toml", "c.json"):
        cfg = load_config(tmp_path / name)
        assert cfg.base_dir == str(tmp_path.resolve())
        assert list(cfg.vats) == ["alice"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**GOOD, "bundels": {}}, r"extra fields found \(bundels\)"),
        (
            {"bundles": {"b": "b.py"}, "vats": {"alice": {"bundel": "b"}}},
            r"bundel.*vats\['alice'\]",
        ),
        (
            {"bundles": {}, "vats": {"alice": {"bundle": "b"}}},
            r"vats.alice.bundle 'b' is not in \[bundles\]",
        ),
        (
            {"bundles": {"b": "b.py"}, "vats": {"has space": {"bundle": "b"}}},
            "vat name 'has space'",
        ),
        (
            {"bundles": {"b": "b.py"}, "vats": {"vat_admin": {"bundle": "b"}}},
            "'vat_admin' is reserved",
        ),
        ({**GOOD, "bootstrap": "bob"}, "bootstrap vat 'bob' is not in"),
        ({**GOOD, "reap_interval": 0}, "must be >= 1"),
    ],
)
def test_bad_configs_are_config_errors_naming_the_problem(config, message):
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_errors_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "sim.toml"
    path.write_text("[vats.alice\n")
    with pytest.raises(ConfigError, match=r"cannot parse config .*sim\.toml"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"cannot read config .*missing\.toml"):
        load_config(tmp_path / "missing.toml")
