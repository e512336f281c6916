from __future__ import annotations

from pathlib import Path

import pytest

from kibble.config import load_settings
from kibble.errors import ConfigError


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = load_settings({"home": tmp_path / "h"}, environ={})
    assert s.database_url == f"sqlite:///{tmp_path / 'h' / 'kibble.db'}"
    assert s.artifact_url == str(tmp_path / "h" / "artifacts")
    assert s.sources["project"] == "default"
    assert s.sources["home"] == "cli"


def test_layers_file_then_env_then_cli(tmp_path: Path) -> None:
    config = tmp_path / "kibble.toml"
    config.write_text('project = "from-file"\nlog_level = "INFO"\n[serving]\nport = 9001\n')
    env = {"KIBBLE_PROJECT": "from-env", "KIBBLE_SERVING__PORT": "9002"}
    s = load_settings({"project": "from-cli"}, environ=env, config_file=config)
    assert s.project == "from-cli"
    assert s.sources["project"] == "cli"
    assert s.log_level == "INFO"
    assert s.sources["log_level"] == f"file:{config}"
    assert s.serving.port == 9002
    assert s.sources["serving.port"] == "env:KIBBLE_SERVING__PORT"


def test_kibble_table_in_toml_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "kibble.toml"
    config.write_text('[kibble]\nproject = "k9s"\n')
    assert load_settings(environ={}, config_file=config).project == "k9s"


def test_unknown_file_key_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "kibble.toml"
    config.write_text("projekt = 'typo'\n")
    with pytest.raises(ConfigError, match="projekt"):
        load_settings(environ={}, config_file=config)


def test_invalid_value_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"serving.port from env:KIBBLE_SERVING__PORT"):
        load_settings(environ={"KIBBLE_SERVING__PORT": "not-a-port"})


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "kibble.toml"
    config.write_text("project = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={}, config_file=config)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"KIBBLE_CONFIG": str(tmp_path / "missing.toml")})


def test_token_is_masked_in_public_view(tmp_path: Path) -> None:
    s = load_settings({"home": tmp_path}, environ={"KIBBLE_TOKEN": "kb_secret"})
    assert s.token == "kb_secret"
    assert s.public_dict()["token"] == "***"
    assert "kb_secret" not in repr(s)
