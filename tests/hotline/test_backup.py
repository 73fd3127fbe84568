"""Backups and crypto-shredding, as issue 20 tries them: a restore round trip (recordings
included), an erased customer staying unreadable after a pre-erasure backup is restored while
everyone else is read normally, and no phone number, name or audio header in clear in the
database file or the recordings folder. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import backup, config, db
from core.audit import entries_for
from core.crypto import DecryptionError
from core.storage import SealedUnreadable, get_storage
from telephony.models import Call, Recording
from tests.conftest import PG_URL
from tests.factories import fresh, make_user
from tests.telephony.hub import Hub, available, eager_tasks, hub, sim  # noqa: F401
from tests.tickets.factories_customers import make_customer
from tickets.erasure import erase_now
from tickets.models.customers import Customer, CustomerPhone

NAMES = ("Erasmus Vanishing", "Beatrix Staying")
NUMBERS = ("+8613912340001", "+8613912340002")
EMAILS = ("erasmus@example.org", "beatrix@example.org")


def _call(sim, session: Session, number: str, agent) -> Recording:  # type: ignore[no-untyped-def]
    available(session, agent)
    sid = sim.place_call(number)
    sim.pump()
    sim.press(sid, "1")
    sim.pump()
    sim.phone(f"agent_{agent.id}").answer()
    sim.advance(30)
    sim.hangup(sid)
    sim.pump()
    fresh(session)
    call = session.scalar(select(Call).where(Call.call_sid == sid))
    recording = session.scalar(select(Recording).where(Recording.call_id == call.id, Recording.kind == "call"))
    assert recording is not None and recording.copied_at is not None
    return recording


@pytest.fixture
def world(sim, hub: Hub, session: Session):  # type: ignore[no-untyped-def]
    leaving = make_customer(session, site=hub.site, name=NAMES[0], phones=[NUMBERS[0]], email=EMAILS[0])
    staying = make_customer(session, site=hub.site, name=NAMES[1], phones=[NUMBERS[1]], email=EMAILS[1])
    first = _call(sim, session, NUMBERS[0], hub.agent)
    second = _call(sim, session, NUMBERS[1], hub.other_agent)
    return leaving.id, staying.id, first.id, second.id


def _plain(recording_id: int) -> bytes:
    with db.new_session() as s:
        recording = s.get(Recording, recording_id)
        return get_storage().get(recording.media_key)


def test_restore_round_trip_brings_back_data_and_recordings(world, session: Session) -> None:
    leaving_id, staying_id, first_id, _second_id = world
    audio = _plain(first_id)
    made = backup.create()
    # Change data after the backup: a rename, a new customer, a lost recording.
    customer = session.get(Customer, staying_id)
    customer.name = "Renamed After Backup"
    session.commit()
    recording = session.get(Recording, first_id)
    get_storage().delete(recording.media_key)
    session.commit()
    session.rollback()
    counts = backup.restore(made.id)
    assert counts["recordings"] == 2
    with db.new_session() as after:
        assert after.get(Customer, staying_id).name == NAMES[1]
        assert after.get(Customer, leaving_id).email == EMAILS[0]
        assert {p.number for p in after.scalars(select(CustomerPhone))} == set(NUMBERS)
        numbers = {c.from_number for c in after.scalars(select(Call).where(Call.leg == "caller"))}
        assert set(NUMBERS) <= numbers
    assert _plain(first_id) == audio and audio.startswith(b"RIFF")
    result = backup.verify(made.id)
    assert result["recordings"] == 2 and result["audit_entries"] > 0
    assert backup.last_good().id == made.id


def test_an_erasure_reaches_a_backup_taken_before_it(world, session: Session, hub: Hub) -> None:
    leaving_id, staying_id, first_id, second_id = world
    made = backup.create()
    admin = make_user(session, role="admin", site=hub.site)
    session.commit()
    erase_now(session, customer_id=leaving_id, by=admin, reason="legal request")
    session.commit()
    [certificate] = [e for e in entries_for(session, object_type="customer", object_id=leaving_id)
                     if e.action == "customer.erased"]
    assert certificate.details_dict["data_keys_shredded"] and certificate.details_dict["backups_reached"] == 1
    assert NAMES[0] not in str(certificate.details) and NUMBERS[0] not in str(certificate.details)
    session.rollback()  # the hub is stopped for a restore: nothing holds the tables

    backup.restore(made.id)
    with db.new_session() as after:
        gone, kept = after.get(Customer, leaving_id), after.get(Customer, staying_id)
        assert gone.name is None and gone.email is None and gone.phones == []
        assert kept.name == NAMES[1] and kept.email == EMAILS[1] and kept.phones[0].number == NUMBERS[1]
        numbers = [c.from_number for c in after.scalars(select(Call).where(Call.leg == "caller"))]
        assert NUMBERS[0] not in numbers and NUMBERS[1] in numbers
        first, second = after.get(Recording, first_id), after.get(Recording, second_id)
        assert get_storage().get(second.media_key).startswith(b"RIFF")
        assert first.media_key is None
    # Even the raw restored media of the erased customer's call cannot be opened.
    stored = [k for k in get_storage().inner.list("backups/") if k.endswith(".wav")]
    readable = 0
    for key in stored:
        try:
            _decrypt_backup_copy(key)
            readable += 1
        except (SealedUnreadable, DecryptionError):
            pass
    assert readable == 1


def _decrypt_backup_copy(key: str) -> bytes:
    from core.storage.sealed import SealedStorage

    storage = get_storage()
    inner = storage.inner
    view = SealedStorage(_Rebased(inner, key.split("/recordings/")[0] + "/"), storage._material)
    return view.get("recordings/" + key.split("/recordings/", 1)[1])


class _Rebased:
    """The backup's copy seen under its original key."""

    def __init__(self, inner, base: str) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.base, self.name = inner, base, inner.name

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return self.inner.read_range(self.base + key, start, end)

    def size(self, key: str) -> int | None:
        return self.inner.size(self.base + key)

    def iter_range(self, key: str, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
        return self.inner.iter_range(self.base + key, start, end)


def _bytes_of_everything(settings: config.Settings, session: Session) -> bytes:
    chunks = []
    if PG_URL:
        # The database's own files are the server's; a dump holds every stored byte of it.
        dump = Path(settings.var_dir) / "scan.pgdump"
        backup._dump_database(settings, dump)
        chunks.append(dump.read_bytes())
    else:
        path = Path(str(db.get_engine().url.database))
        for candidate in (path, Path(f"{path}-wal")):
            if candidate.exists():
                chunks.append(candidate.read_bytes())
    for file in Path(settings.effective_storage_dir).rglob("*"):
        if file.is_file():
            chunks.append(file.read_bytes())
    return b"\n".join(chunks)


def test_nothing_personal_or_audible_is_stored_in_clear(world, settings, session: Session) -> None:
    backup.create()
    everything = _bytes_of_everything(settings, session)
    local = [n.replace("+86", "") for n in NUMBERS]
    for value in (*NAMES, *NUMBERS, *local, *EMAILS, "RIFF", "WAVEfmt"):
        assert value.encode() not in everything, value
    assert b"data_keys" in everything or PG_URL  # the scan did read the database


def test_master_keys_go_into_a_backup_only_sealed_with_a_passphrase(world) -> None:
    with pytest.raises(backup.BackupError, match="passphrase"):
        backup.create(include_master_keys=True)
    made = backup.create(include_master_keys=True, passphrase="correct horse battery")
    sealed = get_storage().inner.get(f"backups/{made.id}/master-keys.sealed")
    keys = config.get_settings().data_key_values()
    assert keys[0].encode() not in sealed
    assert backup.open_master_keys(sealed, "correct horse battery")["data_keys"] == keys
    with pytest.raises(backup.BackupError, match="wrong passphrase"):
        backup.open_master_keys(sealed, "wrong horse battery!")
    plain = backup.create()
    assert not get_storage().inner.exists(f"backups/{plain.id}/master-keys.sealed")
    assert all(k.encode() not in get_storage().inner.get(f"backups/{plain.id}/data-keys.json") for k in keys)


def test_only_the_newest_backups_are_kept(world, settings) -> None:
    config.configure(settings.model_copy(update={"backup_keep": 2}))
    made = [backup.create().id for _ in range(3)]
    assert [b.id for b in backup.list_backups()] == list(reversed(made[1:]))

