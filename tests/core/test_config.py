"""Settings: the embedded default needs nothing; production refuses to start without keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from core import config
from core.config import ConfigurationError, Settings, ensure_embedded_keys, validate_for_start


def test_embedded_default_needs_no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    settings = Settings(var_dir=tmp_path / "var")
    validate_for_start(settings)
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'var' / 'hotline.db').as_posix()}"
    assert settings.effective_storage_dir == tmp_path / "var"  # recordings under var/recordings/
    assert settings.storage_backend == "filesystem"
    assert settings.timezone == "UTC"


def test_embedded_keys_are_generated_once_and_kept_beside_the_data_folder(tmp_path: Path) -> None:
    first = ensure_embedded_keys(Settings(var_dir=tmp_path / "var"))
    second = ensure_embedded_keys(Settings(var_dir=tmp_path / "var"))
    assert first.secret() == second.secret()
    assert first.data_key_values() == second.data_key_values()
    keys_file = tmp_path / "keys" / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert set(json.loads(keys_file.read_text())) == {"secret_key", "data_keys", "blind_index_key"}
    assert not any(p.name == "keys.json" for p in (tmp_path / "var").rglob("*"))


def test_embedded_keys_left_in_the_data_folder_are_moved_out(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "keys.json").write_text(json.dumps({"secret_key": "s" * 48, "data_keys": [config.new_data_key()],
                                                            "blind_index_key": "b" * 48}))
    settings = ensure_embedded_keys(Settings(var_dir=tmp_path / "var"))
    assert settings.secret() == "s" * 48
    assert not (tmp_path / "var" / "keys.json").exists() and (tmp_path / "keys" / "keys.json").exists()


def test_a_keys_folder_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="HOTLINE_KEYS_DIR"):
        ensure_embedded_keys(Settings(var_dir=tmp_path / "var", keys_dir=tmp_path / "var" / "keys"))


def test_production_lists_every_missing_setting(tmp_path: Path) -> None:
    settings = Settings(mode="production", var_dir=tmp_path)
    with pytest.raises(ConfigurationError) as err:
        validate_for_start(settings)
    message = str(err.value)
    for name in ("HOTLINE_DATABASE_URL", "HOTLINE_BROKER_URL", "HOTLINE_SECRET_KEY", "HOTLINE_DATA_KEYS",
                 "HOTLINE_BLIND_INDEX_KEY", "HOTLINE_TWILIO_AUTH_TOKEN", "HOTLINE_PUBLIC_URL"):
        assert name in message


def test_production_never_generates_keys(tmp_path: Path) -> None:
    settings = ensure_embedded_keys(Settings(mode="production", var_dir=tmp_path / "var"))
    assert settings.secret_key is None and not (tmp_path / "keys").exists()


def _production(**overrides: object) -> Settings:
    values: dict[str, object] = dict(
        mode="production", database_url="postgresql+psycopg://db/hotline", broker_url="redis://r:6379/0",
        public_url="https://hotline.example.org", secret_key="s" * 40, data_keys=config.new_data_key(),
        blind_index_key="b" * 40, twilio_account_sid="AC" + "1" * 32, twilio_auth_token="t" * 32,
        storage_dir="/srv/hotline-files",
    )
    values.update(overrides)
    return Settings.model_validate(values)


def test_production_with_everything_starts() -> None:
    validate_for_start(_production())


def test_production_rejects_a_malformed_data_key() -> None:
    with pytest.raises(ConfigurationError, match="HOTLINE_DATA_KEYS entry 2"):
        validate_for_start(_production(data_keys=config.new_data_key() + ",not-a-key"))


def test_data_keys_parse_comma_separated_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = config.new_data_key(), config.new_data_key()
    monkeypatch.setenv("HOTLINE_DATA_KEYS", f"{new}, {old}")
    assert Settings().data_key_values() == [new, old]


def test_new_call_commit_setting_reads_true_and_false_and_refuses_anything_else(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().new_call_synchronous_commit is False  # the documented default
    monkeypatch.setenv("HOTLINE_NEW_CALL_SYNCHRONOUS_COMMIT", "true")
    assert Settings().new_call_synchronous_commit is True
    monkeypatch.setenv("HOTLINE_NEW_CALL_SYNCHRONOUS_COMMIT", "sometimes")
    with pytest.raises(ValidationError, match="new_call_synchronous_commit"):
        Settings()


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(timezone="Mars/Olympus")
