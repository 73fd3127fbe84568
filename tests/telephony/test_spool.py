"""The webhook spool lives in the storage port, on either backend: what one web process spools
while the database is down, any worker replays, in arrival order, once."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from core import config
from core.storage import get_storage
from telephony import spool
from tests.conftest import s3_settings


@pytest.fixture(params=["filesystem", "s3"])
def storage_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    return s3_settings(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else {}


def test_spooled_webhooks_are_sealed_and_replayed_in_order_once(settings) -> None:
    for n in range(3):
        spool.save("status", {"CallSid": f"CA{n}", "From": "+8613800138000"}, query={"n": str(n)})
    keys = spool.pending()
    assert len(keys) == 3 and all(key.startswith("spool/twilio/") for key in keys)
    assert b"+8613800138000" not in b"".join(get_storage().get(key) for key in keys)
    seen: list[str] = []

    def handler(session, params, query):  # type: ignore[no-untyped-def]
        seen.append(params["CallSid"] + query["n"])

    assert spool.replay({"status": handler}) == 3
    assert seen == ["CA00", "CA11", "CA22"]
    assert spool.pending() == [] and spool.replay({"status": handler}) == 0


def test_a_webhook_needing_no_replay_is_dropped(settings) -> None:
    spool.save("fallback", {"CallSid": "CA1"})
    assert spool.replay({}) == 0 and spool.pending() == []


def test_an_unreadable_webhook_is_moved_aside_not_lost(settings) -> None:
    spool.save("status", {"CallSid": "CA1"})
    retired = settings.model_copy(update={"data_keys": [SecretStr(Fernet.generate_key().decode())]})
    config.configure(retired)
    try:
        assert spool.replay({"status": lambda *args: None}) == 0
    finally:
        config.configure(settings)
    assert spool.pending() == []
    assert len(get_storage().list(spool.UNREADABLE_PREFIX)) == 1
