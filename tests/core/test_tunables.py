"""The tunables store: declared defaults, typed reads, writes held to the declared bounds (a
refusal with its msgid and bounds), audited with who and when, reset, and a change made by
another session (another process) seen from the reader's next transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import cache, db, tunables
from core.audit import entries_for
from core.errors import ValidationFailed
from core.models import Role
from qa import settings as qa_settings
from scheduling import settings as scheduling_settings
from telephony import priority
from tests.factories import fresh, make_user
from tickets import sla

MINIMUM = tunables.find("qa", "evaluations_per_agent")
TIERS_EVERY = tunables.find("tickets", "tier_assessment_months")


def test_every_package_declares_its_numbers_once() -> None:
    assert set(tunables.NAMESPACES) >= {"qa", "scheduling", "tickets", "routing"}
    assert qa_settings.DEFAULTS.evaluations_per_agent == MINIMUM.default == 3
    assert scheduling_settings.DEFAULTS.min_rest_minutes == 660
    assert sla.SETTINGS["complaint_response_minutes"] == 24 * 60
    assert priority.DEFAULTS.offer_timeout_seconds == 15
    for tunable in tunables.declared():
        assert tunable.minimum <= tunable.default <= tunable.maximum and tunable.label, tunable.name
    with pytest.raises(ValueError, match="declared twice"):
        tunables.declare("qa", "evaluations_per_agent", default=3, minimum=1, maximum=9, label=MINIMUM.label)


def test_a_value_is_stored_read_and_audited_with_who_changed_it(session: Session) -> None:
    admin = make_user(session, role=Role.admin, display_name="Ada Admin")
    assert tunables.get(session, MINIMUM) == 3 and tunables.overrides(session) == {}
    assert tunables.set_value(session, MINIMUM, 5, by=admin, reason="audit season") == 5
    session.commit()
    assert qa_settings.policy(fresh(session)).evaluations_per_agent == 5
    stored = tunables.overrides(session)[("qa", "evaluations_per_agent")]
    assert (stored.value, stored.changed_by_name, stored.reason) == (5, "Ada Admin", "audit season")
    [entry] = entries_for(session, object_type="tunable", object_id="qa.evaluations_per_agent")
    assert (entry.action, entry.actor_id) == ("tunable.changed", admin.id)
    assert '"before":3' in entry.details and '"value":5' in entry.details

    assert tunables.reset(session, MINIMUM, by=admin) == 3
    session.commit()
    assert tunables.get(fresh(session), MINIMUM) == 3 and tunables.overrides(session) == {}
    assert [e.action for e in entries_for(session, object_type="tunable")] == ["tunable.reset", "tunable.changed"]


@pytest.mark.parametrize(("tunable", "value", "message"), [
    (MINIMUM, 6, "Give a whole number from 1 to 5."),
    (MINIMUM, 0, "Give a whole number from 1 to 5."),
    (TIERS_EVERY, 6, "Choose one of 3, 12."),
])
def test_a_value_outside_its_bounds_is_refused_with_them(session: Session, tunable: tunables.Tunable, value: int,
                                                         message: str) -> None:
    with pytest.raises(tunables.OutOfBounds) as refused:
        tunables.set_value(session, tunable, value)
    assert str(refused.value) == message and refused.value.field == "value" and refused.value.code == "invalid"
    assert refused.value.params["tunable"] == tunable.name and refused.value.params["minimum"] == tunable.minimum
    assert refused.value.message_id in (tunables.OutOfBounds.RANGE, tunables.OutOfBounds.CHOICE)
    assert tunables.get(session, tunable) == tunable.default and entries_for(session, object_type="tunable") == []


def test_an_unknown_key_names_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as refused:
        tunables.find("qa", "evaluations")
    assert refused.value.field == "key" and refused.value.params["key"] == "evaluations"
    assert "evaluations_per_agent" in refused.value.params["known"]  # type: ignore[operator]


def test_a_stored_value_beyond_narrower_bounds_gives_the_default(session: Session) -> None:
    # A value written before the bounds were declared (moved over by the migration) is not trusted.
    session.add(tunables.TunableValue(namespace="qa", key="evaluations_per_agent", value=40))
    session.add(tunables.TunableValue(namespace="qa", key="retired_setting", value=1))
    session.flush()
    tunables.forget(session)
    assert tunables.values(session, "qa")["evaluations_per_agent"] == 3
    assert "retired_setting" not in tunables.values(session, "qa")


def test_another_sessions_change_is_read_from_the_next_transaction(session: Session) -> None:
    reader = db.new_session(reader=True)
    try:
        assert sla.get_setting(reader, "quiet_customer_days") == 90
        sla.set_setting(session, key="quiet_customer_days", value=27)
        session.commit()
        # The same transaction keeps what it read (one read per unit of work) ...
        assert sla.get_setting(reader, "quiet_customer_days") == 90
        reader.commit()
        # ... and the next one reads the change.
        assert sla.get_setting(reader, "quiet_customer_days") == 27
        reader.rollback()
        sla.set_setting(session, key="quiet_customer_days", value=30)
        session.rollback()  # a write rolled back is forgotten by the writer too
        assert sla.get_setting(session, "quiet_customer_days") == 27
    finally:
        reader.close()


def test_a_savepoint_rolled_back_forgets_its_write(session: Session) -> None:
    db.write_locked(session)  # the audit trail's appends start as the writer on SQLite
    with session.begin_nested() as savepoint:
        tunables.set_value(session, MINIMUM, 4)
        assert tunables.get(session, MINIMUM) == 4
        savepoint.rollback()
    assert tunables.get(session, MINIMUM) == 3


def test_overrides_are_remembered_across_units_of_work_for_a_few_seconds(session: Session, clock: Any) -> None:
    # Nearly every webhook of a call reads an override: one read serves this process for
    # core.cache's TTL. A change made by another process (a write this one never saw) is read
    # once the TTL has passed; one made here is read from the next transaction (above).
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM tunables" in statement:
            reads.append(statement)

    cache.forget()
    reader = db.new_session(reader=True)
    engine = reader.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert sla.get_setting(reader, "quiet_customer_days") == 90
        reader.commit()
        assert sla.get_setting(reader, "quiet_customer_days") == 90
        reader.commit()
        assert len(reads) == 1
        with engine.begin() as other_process:
            other_process.execute(tunables.TunableValue.__table__.insert().values(
                namespace="tickets", key="quiet_customer_days", value=33, changed_at=clock.now()))
        assert sla.get_setting(reader, "quiet_customer_days") == 90
        reader.commit()
        clock.advance(seconds=cache.TTL_SECONDS + 1)
        sla.get_setting(reader, "quiet_customer_days")  # the one reader that reloads
        reader.commit()
        assert sla.get_setting(reader, "quiet_customer_days") == 33
        reader.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
        reader.close()
