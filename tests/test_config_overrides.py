"""`vatrt.testing.config_dict`: a config with some vat tables' parameters changed."""

import json

import pytest

from vatrt.config import load_config
from vatrt.errors import ConfigError
from vatrt.testing import config_dict

TOML = """
bootstrap = "driver"
[bundles]
driver = "driver.py"
peer = "peer.py"
[vats.driver]
bundle = "driver"
parameters = { rounds = 300, seed = 7 }
[vats.peer]
bundle = "peer"
count = 3
parameters = { index = "{index}" }
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sim.toml"
    path.write_text(TOML)
    return path


def test_overrides_merge_into_a_tables_parameters_and_keep_the_others(config, tmp_path):
    raw = config_dict(config, parameters={"driver": {"rounds": 3}})
    cfg = load_config(raw)
    assert cfg.vats["driver"].parameters == {"rounds": 3, "seed": 7}
    assert cfg.base_dir == str(tmp_path.resolve())


def test_an_override_of_a_count_table_changes_every_copy(config):
    cfg = load_config(config_dict(config, parameters={"peer": {"label": "p{index}"}}))
    assert cfg.vats["peer-2"].parameters == {"index": 2, "label": "p2"}


def test_top_level_keys_are_set_and_checked_by_load_config(config):
    assert load_config(config_dict(config, max_turns=50)).max_turns == 50
    with pytest.raises(ConfigError, match="max_turn"):
        load_config(config_dict(config, max_turn=50))


def test_a_dict_config_is_not_changed():
    raw = {"bundles": {"b": "b.py"}, "vats": {"a": {"bundle": "b", "parameters": {"n": 1}}}}
    before = json.dumps(raw)
    assert config_dict(raw, parameters={"a": {"n": 2}})["vats"]["a"]["parameters"] == {"n": 2}
    assert json.dumps(raw) == before


def test_an_override_for_a_vat_with_no_table_names_the_known_ones(config):
    with pytest.raises(ConfigError, match=r"no \[vats.drivr\] table .* \(known: driver, peer\)"):
        config_dict(config, parameters={"drivr": {"rounds": 3}})


def test_an_override_naming_one_copy_says_to_override_its_table(config):
    with pytest.raises(ConfigError, match=r"'peer-1' is a copy made by \[vats.peer\] \(count\)"):
        config_dict(config, parameters={"peer-1": {"x": 1}})


def test_an_override_that_is_not_a_dict_is_refused(config):
    with pytest.raises(ConfigError, match="must be a dict of changes, not int"):
        config_dict(config, parameters={"driver": 3})


def test_counts_change_the_count_of_a_count_table(config):
    cfg = load_config(config_dict(config, counts={"peer": 2}))
    assert list(cfg.vats) == ["driver", "peer-0", "peer-1"]


def test_counts_for_a_table_without_count_or_a_missing_table_are_refused(config):
    with pytest.raises(ConfigError, match=r"counts for 'driver': \[vats.driver\] has no count"):
        config_dict(config, counts={"driver": 2})
    with pytest.raises(ConfigError, match=r"counts for 'pear': no \[vats.pear\] table"):
        config_dict(config, counts={"pear": 2})
    with pytest.raises(ConfigError, match="count must be >= 1, not 0"):
        load_config(config_dict(config, counts={"peer": 0}))
