"""Agents, skills and queued calls for the router's tests (plain rows, no password hashing)."""

from __future__ import annotations

from itertools import count

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Skill, User, UserSkill
from telephony import routing
from telephony.models.routing import QueueEntry

_calls = count(1000)


def skill(session: Session, code: str) -> Skill:
    found = session.scalar(select(Skill).where(Skill.code == code))
    if found is None:
        found = Skill(code=code, name=code.title())
        session.add(found)
        session.flush()
    return found


def agent(session: Session, name: str, skills: dict[str, int] | None = None) -> User:
    user = User(username=name, display_name=name.title(), password_hash="!", role="agent")
    session.add(user)
    for code, level in (skills if skills is not None else {"inquiry": 3}).items():
        user.skills.append(UserSkill(skill=skill(session, code), level=level))
    session.flush()
    return user


def call(session: Session, *, skill_code: str = "inquiry", category: str = "inquiry", tier: str = "normal",
         **options: object) -> QueueEntry:
    return routing.enqueue(session, call_id=next(_calls), skill_code=skill_code, category=category, tier=tier,
                           **options)  # type: ignore[arg-type]
