"""Migration 0012 moves every override of the four old settings tables (QA, scheduling, tickets,
routing) into the one tunables store, drops the old tables, and the downgrade moves them back."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from core import db, tunables
from hotline import migrate
from qa import settings as qa_settings
from scheduling import settings as scheduling_settings
from telephony import priority
from tickets import sla

OLD_TABLES = {"qa_settings", "scheduling_settings", "ticket_settings", "routing_settings"}
ROWS = (
    "INSERT INTO qa_settings (key, value) VALUES ('evaluations_per_agent', 5), ('coaching_threshold', 70)",
    "INSERT INTO scheduling_settings (key, value) VALUES ('skill_level_tolerance', 2)",
    "INSERT INTO ticket_settings (key, value) VALUES ('quiet_customer_days', 60), ('at_risk_percent', 75)",
    "INSERT INTO routing_settings (name, value) VALUES ('offer_timeout_seconds', 40)",
)
MOVED = {("qa", "evaluations_per_agent", 5), ("qa", "coaching_threshold", 70),
         ("scheduling", "skill_level_tolerance", 2), ("tickets", "quiet_customer_days", 60),
         ("tickets", "at_risk_percent", 75), ("routing", "offer_timeout_seconds", 40)}


def test_overrides_move_into_the_store_and_back(settings, empty_database: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    before = ScriptDirectory.from_config(migrate.alembic_config(empty_database)).get_revision("0012").down_revision
    migrate.upgrade(empty_database, str(before))
    engine = db.make_engine(empty_database)
    try:
        with engine.begin() as conn:
            for statement in ROWS:
                conn.execute(text(statement))
        migrate.upgrade(empty_database, "0012")
        assert not OLD_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            moved = set(conn.execute(text("SELECT namespace, key, value FROM tunables")).all())
        assert moved == MOVED
        with Session(engine) as session:  # the packages read them through the store
            assert qa_settings.policy(session).evaluations_per_agent == 5
            assert scheduling_settings.policy(session).skill_level_tolerance == 2
            assert sla.get_setting(session, "quiet_customer_days") == 60
            assert priority.routing_settings(session).offer_timeout_seconds == 40
            assert tunables.overrides(session)[("routing", "offer_timeout_seconds")].changed_by_id is None

        migrate.downgrade(empty_database, str(before))
        assert "tunables" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            back = set(conn.execute(text("SELECT 'qa', key, value FROM qa_settings UNION ALL "
                                         "SELECT 'scheduling', key, value FROM scheduling_settings UNION ALL "
                                         "SELECT 'tickets', key, value FROM ticket_settings UNION ALL "
                                         "SELECT 'routing', name, value FROM routing_settings")).all())
        assert back == MOVED
    finally:
        engine.dispose()
