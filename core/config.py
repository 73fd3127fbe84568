"""Settings from `HOTLINE_*` environment variables: all optional in the embedded mode,
every secret required in production mode (a clear start-up error, never a silent default)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """The settings cannot run the hub; the message says which variable to set."""


def _split_keys(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise ValueError("expected a comma-separated string or a list")
    return [str(v.get_secret_value() if isinstance(v, SecretStr) else v) for v in value]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    var_dir: Path = Path("var")
    database_url: str | None = None
    broker_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    data_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    blind_index_key: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: SecretStr | None = None
    twilio_twiml_app_sid: str | None = None
    twilio_caller_id: str | None = None
    timezone: str = "UTC"
    session_max_age_seconds: int = 12 * 3600
    lockout_threshold: int = 5
    lockout_window_seconds: int = 15 * 60
    lockout_seconds: int = 15 * 60
    grant_default_seconds: int = 2 * 3600
    grant_max_seconds: int = 24 * 3600
    callback_max_attempts: int = 3
    callback_retry_minutes: int = 30
    # A warm transfer to a queue: after this long without an agent taking it, the agent is told.
    warm_transfer_wait_seconds: int = 60
    webhook_concurrency: int = 4
    # Reconciliation with Twilio's REST API (telephony.reconcile; docs/reconcile.md): a call or
    # leg silent for longer than its state allows is fetched and corrected; a queued caller
    # silent longer than queue_alive_seconds is not offered until Twilio has been asked; a
    # recording still in progress this long after its call ended is looked up.
    reconcile_ringing_seconds: int = Field(default=60, ge=5)
    reconcile_in_call_seconds: int = Field(default=240, ge=30)
    queue_alive_seconds: int = Field(default=60, ge=5)
    reconcile_recording_seconds: int = Field(default=120, ge=10)
    # Redis only: a task taken by a worker that died is delivered again after this long. Sized
    # to the longest task (a recording's copy with its retries), not kombu's default hour.
    task_visibility_timeout_seconds: int = Field(default=600, ge=60)
    # True: a new call's one-statement insert waits for the WAL flush too (telephony.calls._relaxes_commit).
    new_call_synchronous_commit: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The registered workstations (addresses or networks) personal data may be viewed from; empty: no check.
    workstation_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Storage (recordings, voicemails, the webhook spool, backups: core.storage). "filesystem"
    # keeps them under storage_dir (default the var dir; a mount every host shares in
    # production); "s3" in a bucket of any S3-compatible object store.
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    storage_dir: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # One beat (core.beat_lock): with Redis, a beat that dies is replaced by a standby within this.
    beat_lock_seconds: float = Field(default=30.0, ge=1.0)
    # Per-message compression of the live pages' websockets (each message compressed for each
    # browser: the largest cost of fanning a board out to hundreds of screens on a LAN).
    ws_compression: bool = False

    # Who sees customer data and the edges around it (access): the API's description, audit
    # checkpoints kept outside the database, and sign-in throttling per client address.
    # signed_in: /openapi.json and /api/docs for signed-in people only; off: not served at all.
    api_docs: Literal["signed_in", "off"] = "signed_in"
    # The audit trail's head, checkpointed every minute and at shutdown (default var/audit-checkpoints.jsonl);
    # keep it off the database's host. A URL to POST each new checkpoint to, for a copy elsewhere.
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_url: str | None = None
    # Wrong passwords before delays start: for one username at one address, and from one address
    # (people signing in where they did before are not counted); then the delay doubles from the
    # first up to the longest; a day without wrong passwords forgets them.
    signin_free_failures: int = Field(default=3, ge=0)
    signin_address_free_failures: int = Field(default=20, ge=0)
    signin_delay_seconds: int = Field(default=2, ge=1)
    signin_max_delay_seconds: int = Field(default=900, ge=1)
    signin_memory_seconds: int = Field(default=86400, ge=60)
    # Password hashing (argon2id): memory in KiB and passes. Unset: argon2's RFC 9106 low-memory
    # profile (64 MiB, 3 passes). Hashes made with other values are redone at the next sign-in.
    password_hash_memory_kib: int | None = Field(default=None, ge=19 * 1024, le=4 * 1024 * 1024)
    password_hash_time_cost: int | None = Field(default=None, ge=1, le=20)

    # Erasure and backups (seed 004; docs/production.md). A leaving member is told, may use their
    # points and benefits for this many days, then their data key is shredded.
    erasure_notice_days: int = Field(default=30, ge=0, le=365)
    # The embedded mode's generated keys: a folder beside the data folder (default `keys` next to
    # `var`), never inside it, so a copy of the data folder holds no key.
    keys_dir: Path | None = None
    # Backups beat makes (0: none), and how many good ones are kept.
    backup_interval_hours: int = Field(default=24, ge=0)
    backup_keep: int = Field(default=7, ge=1)

    @field_validator("data_keys", mode="before")
    @classmethod
    def _parse_data_keys(cls, value: object) -> list[str]:
        return _split_keys(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> list[str]:
        return _split_keys(value)

    @field_validator("workstation_networks", mode="before")
    @classmethod
    def _parse_workstations(cls, value: object) -> list[str]:
        import ipaddress

        entries = _split_keys(value)
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an address or network such as 10.20.0.0/16") from exc
        return entries

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception as exc:  # noqa: BLE001 - any lookup failure is a configuration error
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    # Derived values -----------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'hotline.db').as_posix()}"

    @property
    def effective_storage_dir(self) -> Path:
        return self.storage_dir or self.var_dir

    @property
    def effective_keys_dir(self) -> Path:
        return self.keys_dir or self.var_dir.resolve().parent / "keys"

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith("postgresql")

    def secret(self) -> str:
        if self.secret_key is None:
            raise ConfigurationError("HOTLINE_SECRET_KEY is not set")
        return self.secret_key.get_secret_value()

    def data_key_values(self) -> list[str]:
        return [k.get_secret_value() for k in self.data_keys]


PRODUCTION_REQUIRED = (
    ("database_url", "HOTLINE_DATABASE_URL"),
    ("broker_url", "HOTLINE_BROKER_URL"),
    ("secret_key", "HOTLINE_SECRET_KEY"),
    ("data_keys", "HOTLINE_DATA_KEYS"),
    ("blind_index_key", "HOTLINE_BLIND_INDEX_KEY"),
    ("twilio_account_sid", "HOTLINE_TWILIO_ACCOUNT_SID"),
    ("twilio_auth_token", "HOTLINE_TWILIO_AUTH_TOKEN"),
)


def validate_for_start(settings: Settings) -> None:
    """Raise ConfigurationError listing every missing production setting at once."""
    if not settings.is_production:
        return
    missing = [env for attr, env in PRODUCTION_REQUIRED if not getattr(settings, attr)]
    if settings.storage_backend == "filesystem" and settings.storage_dir is None:
        missing.append("HOTLINE_STORAGE_DIR (a folder every web and worker host mounts) "
                       "or HOTLINE_STORAGE_BACKEND=s3")
    if settings.storage_backend == "s3" and not settings.s3_bucket:
        missing.append("HOTLINE_S3_BUCKET")
    if settings.public_url.startswith("http://127.0.0.1") or settings.public_url.startswith("http://localhost"):
        missing.append("HOTLINE_PUBLIC_URL (the public base URL Twilio calls)")
    if missing:
        raise ConfigurationError(
            "production mode needs these settings: " + ", ".join(missing) + ". See the README's settings table."
        )
    from cryptography.fernet import Fernet

    for index, key in enumerate(settings.data_key_values()):
        try:
            Fernet(key)
        except Exception as exc:  # noqa: BLE001
            raise ConfigurationError(
                f"HOTLINE_DATA_KEYS entry {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `hotline keys generate`"
            ) from exc


def new_data_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def ensure_embedded_keys(settings: Settings) -> Settings:
    """In the embedded mode, keys missing from the environment are generated once and kept in
    `keys/keys.json` beside the data folder (folder 0700, file 0600), so a restart can still read
    what was encrypted and a copy of the data folder holds no key. A `var/keys.json` left by an
    earlier version is moved there."""
    if settings.is_production:
        return settings
    if settings.secret_key and settings.data_keys and settings.blind_index_key:
        return settings
    folder = settings.effective_keys_dir
    if folder.resolve() == settings.var_dir.resolve() or settings.var_dir.resolve() in folder.resolve().parents:
        raise ConfigurationError("HOTLINE_KEYS_DIR must be outside the data folder (HOTLINE_VAR_DIR)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / "keys.json"
    legacy = settings.var_dir / "keys.json"
    if not path.exists() and legacy.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(legacy.read_text())
        legacy.unlink()
    stored: dict[str, object] = {}
    if path.exists():
        stored = json.loads(path.read_text())
        os.chmod(path, 0o600)
    changed = False
    for name, factory in (
        ("secret_key", lambda: secrets.token_urlsafe(48)),
        ("data_keys", lambda: [new_data_key()]),
        ("blind_index_key", lambda: secrets.token_urlsafe(48)),
    ):
        if name not in stored:
            stored[name] = factory()
            changed = True
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    updates: dict[str, object] = {}
    if not settings.secret_key:
        updates["secret_key"] = SecretStr(str(stored["secret_key"]))
    if not settings.data_keys:
        keys = stored["data_keys"]
        updates["data_keys"] = [SecretStr(str(k)) for k in (keys if isinstance(keys, list) else [keys])]
    if not settings.blind_index_key:
        updates["blind_index_key"] = SecretStr(str(stored["blind_index_key"]))
    return settings.model_copy(update=updates)


_current: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Install the settings in use (the app factory and tests call this)."""
    global _current
    _current = settings
    _load.cache_clear()


@lru_cache(maxsize=1)
def _load() -> Settings:
    return ensure_embedded_keys(Settings())


def get_settings() -> Settings:
    return _current if _current is not None else _load()
