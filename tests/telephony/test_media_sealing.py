"""Recordings stored in clear before sealing existed are sealed by `hotline keys seal-media`
under their caller's data key, the media unchanged, and a second run does nothing."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy.orm import Session

from core.storage import get_storage
from hotline.cli import main
from telephony.models import Call, Recording
from tests.factories import make_site
from tests.tickets.factories_customers import make_customer

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 300


def test_seal_media_seals_old_recordings_under_the_callers_key(settings, session: Session) -> None:  # type: ignore[no-untyped-def]
    customer = make_customer(session, site=make_site(session))
    call = Call(call_sid="CA" + "1" * 32, customer_id=customer.id)
    session.add(call)
    session.flush()
    session.add(Recording(recording_sid="RE" + "1" * 32, call_id=call.id, status="completed",
                          media_key="recordings/2025/03/RE1.wav"))
    session.commit()
    storage = get_storage()
    storage.put("recordings/2025/03/RE1.wav", AUDIO)
    result = CliRunner().invoke(main, ["keys", "seal-media"])
    assert result.exit_code == 0 and "sealed 1 recordings" in result.output, result.output
    session.expire_all()
    assert storage.sealed_key_id("recordings/2025/03/RE1.wav") == session.get(type(customer), customer.id).data_key_id
    assert storage.get("recordings/2025/03/RE1.wav") == AUDIO
    assert b"RIFF" not in storage.inner.get("recordings/2025/03/RE1.wav")
    again = CliRunner().invoke(main, ["keys", "seal-media"])
    assert "sealed 0 recordings" in again.output
