"""Shared fixtures. Every test runs against a database of its own data: a fresh copy of a
SQLite template, or, when HOTLINE_TEST_DATABASE_URL is set, a throw-away PostgreSQL database
emptied before each test. HOTLINE_TEST_BROKER_URL points the event bus and Celery at Redis."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from core import clock as clock_module
from core import config, db
from core.clock import FrozenClock
from hotline.models import load_all
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "text"]  # autouse: cheap argon2 for every test (see tests/factories.py)

PG_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL") or None
BROKER_URL = os.environ.get("HOTLINE_TEST_BROKER_URL") or None

TEST_TWILIO_SID = "AC" + "0" * 31 + "1"
TEST_TWILIO_TOKEN = "test-auth-token-0123456789abcdef"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread for as long as the session's browser lives, and tests that call asyncio.run() must
    not run inside it."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"hotline database: {'PostgreSQL' if PG_URL else 'SQLite'}; broker: {'Redis' if BROKER_URL else 'embedded'}"


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hotline")


@pytest.fixture(scope="session")
def data_keys() -> list[str]:
    return [Fernet.generate_key().decode()]


def build_settings(var_dir: Path, database_url: str, keys: list[str], **overrides: object) -> config.Settings:
    values: dict[str, object] = dict(
        mode="embedded",
        var_dir=var_dir,
        database_url=database_url,
        broker_url=BROKER_URL,
        public_url="http://testserver",
        secret_key=SecretStr("test-secret-key-" + "x" * 32),
        data_keys=[SecretStr(k) for k in keys],
        blind_index_key=SecretStr("test-blind-index-key-" + "y" * 32),
        twilio_account_sid=TEST_TWILIO_SID,
        twilio_auth_token=SecretStr(TEST_TWILIO_TOKEN),
        log_json=False,
    )
    values.update(overrides)
    return config.Settings.model_validate(values)


class _Template:
    """Builds the schema once per test session and hands each test an empty database."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        metadata = load_all().metadata
        self.metadata = metadata
        if PG_URL:
            url = make_url(PG_URL)
            self.admin_url = url.set(database="postgres")
            self.db_name = f"hotline_test_{uuid.uuid4().hex[:10]}"
            self.url = url.set(database=self.db_name).render_as_string(hide_password=False)
            admin = db.make_engine(self.admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.db_name}"')
            admin.dispose()
            self.engine = db.make_engine(self.url)
            metadata.create_all(self.engine)
            created = set(sqlalchemy_inspect(self.engine).get_table_names())
            # Emptying ~100 tables with DELETE is far faster than TRUNCATE for the few rows a test
            # writes; replica mode skips triggers (the audit trail refuses DELETE) and FK checks.
            deletes = [f'DELETE FROM "{t.name}"' for t in reversed(metadata.sorted_tables) if t.name in created]
            self.truncate = "; ".join(["SET session_replication_role = replica", *deletes,
                                       "SET session_replication_role = DEFAULT"]) if deletes else ""
        else:
            self.template = base_dir / "template.db"
            engine = db.make_engine(f"sqlite:///{self.template}")
            metadata.create_all(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()

    def fresh(self, tmp_path: Path) -> tuple[str, Engine]:
        if PG_URL:
            with self.engine.begin() as conn:
                if self.truncate:
                    conn.exec_driver_sql(self.truncate)
            return self.url, self.engine
        target = tmp_path / "hotline.db"
        shutil.copyfile(self.template, target)
        url = f"sqlite:///{target}"
        return url, db.make_engine(url)

    def close(self) -> None:
        if PG_URL:
            self.engine.dispose()
            admin = db.make_engine(self.admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            admin.dispose()


@pytest.fixture(scope="session")
def db_template(base_dir: Path) -> Iterator[_Template]:
    template = _Template(base_dir)
    yield template
    template.close()


@pytest.fixture(scope="session", autouse=True)
def _hooks_wired() -> None:
    """The hooks between packages, as the composition root connects them in every process."""
    from hotline import hooks

    hooks.wire()


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    """core.cache keeps IVR settings and sites a few seconds per database (engine pool); on PostgreSQL
    every test reuses one database (emptied between tests), so nothing from another test applies."""
    from core import cache

    cache.forget()
    yield
    cache.forget()


@pytest.fixture(autouse=True)
def clock() -> Iterator[FrozenClock]:
    """Every test runs on a frozen clock; move it with `clock.advance(minutes=5)`."""
    frozen = FrozenClock()
    previous = clock_module.get_clock()
    clock_module.install(frozen)
    yield frozen
    clock_module.install(previous)


@pytest.fixture
def storage_overrides() -> dict[str, object]:
    """Settings for the storage port; a module overrides this fixture to run its tests on S3 too
    (see tests/telephony/test_recordings.py)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, db_template: _Template, data_keys: list[str],
             storage_overrides: dict[str, object]) -> Iterator[config.Settings]:
    url, engine = db_template.fresh(tmp_path)
    current = build_settings(tmp_path / "var", url, data_keys, **storage_overrides)
    config.configure(current)
    db.configure_engine(engine)
    yield current
    if not PG_URL:
        engine.dispose()
    db.configure_engine(None)
    config.configure(None)


@pytest.fixture
def engine(settings: config.Settings) -> Engine:
    return db.get_engine()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on this test's own database; commit explicitly when the code under test
    expects committed data."""
    s = db.new_session(reader=True)  # the test's own look at the data never holds the write lock
    try:
        yield s
    finally:
        s.rollback()
        s.close()


class _SharedApp:
    """One app from `create_app()` for the tests whose settings differ only in their own database
    and folder. Building an app costs about two seconds of CPU, almost all of it FastAPI
    analysing the parameters of some 330 routes (on the first request, or in `mount_ui`); some
    640 tests ask for one, so a fresh app each cost a third of every CI run.

    The app keeps no settings of its own: middleware, routes and tasks read `config.get_settings()`
    and `db.get_engine()`, which the `settings` fixture points at the test's database. What
    `create_app` captures (the lifespan's broker, bus and password settings, the API docs switch)
    comes from settings equal to the test's but for `database_url` and `var_dir`, which it does
    not read. Each test gets the app's state as built (nothing a page, websocket or earlier
    client left in `app.state`), the process-wide steps `create_app` takes, and a new API
    document; an app whose routes, middleware, handlers or hooks a test changed is dropped."""

    def __init__(self, *, per_test: frozenset[str] = frozenset({"database_url", "var_dir"}),
                 extend: Callable[[Any], None] | None = None) -> None:
        self.per_test, self.extend = per_test, extend  # extend: what a fixture adds to each new app
        self.app: Any = None
        self.shape: dict[str, Any] | None = None
        self.state: dict[str, Any] = {}
        self.fingerprint: tuple[Any, ...] = ()

    @staticmethod
    def _fingerprint(app: Any) -> tuple[Any, ...]:
        return (tuple(map(id, app.router.routes)), tuple(map(id, app.user_middleware)),
                tuple(app.exception_handlers.items()), tuple(app.dependency_overrides.items()), app.openapi,
                app.router.lifespan_context)

    def get(self, settings: config.Settings) -> Any:
        from hotline.app import create_app

        shape = settings.model_dump(exclude=set(self.per_test))
        if self.app is None or shape != self.shape:
            self.app, self.shape = create_app(settings, start_background=False), shape
            if self.extend is not None:
                self.extend(self.app)
            self.state, self.fingerprint = dict(self.app.state._state), self._fingerprint(self.app)
            return self.app
        from core import passwords
        from core.logs import setup_logging
        from hotline import hooks

        # create_app's process-wide steps, as each test had them from its own app.
        config.validate_for_start(settings)
        setup_logging(settings)
        passwords.configure(settings)
        hooks.wire()
        self.app.state._state.clear()
        self.app.state._state.update(self.state, settings=settings)
        self.app.openapi_schema = None
        return self.app

    def release(self, app: Any) -> None:
        if app is self.app and self._fingerprint(app) != self.fingerprint:
            self.app = self.shape = None


@pytest.fixture(scope="session")
def _shared_app() -> _SharedApp:
    return _SharedApp()


@pytest.fixture
def app(settings: config.Settings, _shared_app: _SharedApp) -> Iterator[Any]:
    """The real app for this test's settings (shared with other tests: see _SharedApp)."""
    current = _shared_app.get(settings)
    yield current
    _shared_app.release(current)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3-compatible server (moto's standalone server) in its own process, for the session;
    each test makes its own bucket."""
    from deploy.processes import start_s3_server

    server, url = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield url
    server.stop()


def s3_settings(endpoint_url: str, **overrides: object) -> dict[str, object]:
    """Settings overrides for a new bucket on the test S3 server."""
    from deploy.processes import make_bucket

    bucket = f"hotline-{uuid.uuid4().hex[:12]}"
    make_bucket(endpoint_url, bucket)
    return dict(storage_backend="s3", s3_bucket=bucket, s3_endpoint_url=endpoint_url, s3_access_key_id="hotline",
                s3_secret_access_key=SecretStr("hotline-secret"), **overrides)


def pg_only() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not PG_URL, reason="needs HOTLINE_TEST_DATABASE_URL (PostgreSQL)")


def broker_only() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not BROKER_URL, reason="needs HOTLINE_TEST_BROKER_URL (Redis)")


@pytest.fixture
def db_dialect(engine: Engine) -> str:
    return engine.dialect.name

