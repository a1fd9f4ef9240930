"""Config.from_env: defaults, then EDNA_* variables, then explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Config, documented_settings, env_name


def test_defaults_without_environment():
    assert Config.from_env({}) == Config()


def test_environment_is_coerced_to_the_field_types():
    config = Config.from_env(
        {
            "EDNA_DATA_DIR": "/srv/edna",
            "EDNA_TOKEN_TTL_SECONDS": "60",
            "EDNA_MULTIPART_THRESHOLD": " 1048576 ",
            "EDNA_STORAGE": "s3",
            "EDNA_S3_BUCKET": "data",
            "EDNA_UNKNOWN_SETTING": "ignored",
            "DATA_DIR": "not ours",
        }
    )

    assert config.data_dir == Path("/srv/edna")
    assert isinstance(config.data_dir, Path)
    assert config.token_ttl_seconds == 60
    assert config.multipart_threshold == 1024 * 1024
    assert (config.storage, config.s3_bucket) == ("s3", "data")


def test_empty_variables_keep_the_default():
    assert Config.from_env({"EDNA_TOKEN_TTL_SECONDS": "", "EDNA_STORAGE": ""}) == Config()


def test_overrides_win_over_environment():
    env = {"EDNA_DATA_DIR": "/from/env", "EDNA_TOKEN_TTL_SECONDS": "60", "EDNA_LOG_LEVEL": "DEBUG"}

    config = Config.from_env(env, data_dir="/from/flag", token_ttl_seconds=5, log_level=None)

    assert config.data_dir == Path("/from/flag")
    assert config.token_ttl_seconds == 5
    assert config.log_level == "DEBUG"  # a None override (flag not given) leaves the variable


@pytest.mark.parametrize("raw", ["sixty", "1.5", "1e3", "0x10"])
def test_bad_integer_names_the_variable(raw):
    with pytest.raises(ValueError, match="EDNA_UPLOAD_URL_TTL_SECONDS") as info:
        Config.from_env({"EDNA_UPLOAD_URL_TTL_SECONDS": raw})
    assert repr(raw) in str(info.value)


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("EDNA_DOWNLOAD_URL_TTL_SECONDS", "42")
    assert Config.from_env().download_url_ttl_seconds == 42


def test_every_setting_is_documented():
    documented = documented_settings()

    assert [name for name, _, _ in documented] == [env_name(f) for f in Config.__dataclass_fields__]
    assert all(name.startswith("EDNA_") and doc for name, _, doc in documented)


def test_replace_returns_a_changed_copy():
    config = Config()
    changed = config.replace(storage="s3")

    assert (config.storage, changed.storage) == ("local", "s3")
