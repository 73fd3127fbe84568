"""Scorecards (list, read; create and new versions for administrators) and QA settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from core.auth import AdminUser, CurrentUser, DbSession
from qa import scorecards, settings
from qa.schemas import ScorecardIn

router = APIRouter()


@router.get("/scorecards")
def list_scorecards(session: DbSession, user: CurrentUser, include_retired: bool = False) -> dict[str, Any]:
    scorecards.active(session)  # the shipped scorecard exists from the first look on
    found = scorecards.list_scorecards(session, include_retired=include_retired)
    return {"data": [scorecards.describe(c, with_questions=False) for c in found], "count": len(found)}


@router.get("/scorecards/{scorecard_id}")
def get_scorecard(scorecard_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    card = scorecards.get(session, scorecard_id=scorecard_id)
    return {**scorecards.describe(card), "definition": scorecards.definition_of(card)}


@router.post("/scorecards", status_code=201)
def create_scorecard(body: ScorecardIn, session: DbSession, user: AdminUser) -> dict[str, Any]:
    return scorecards.describe(scorecards.create(session, definition=body, by=user))


@router.post("/scorecards/{code}/versions", status_code=201)
def new_version(code: str, body: ScorecardIn, session: DbSession, user: AdminUser) -> dict[str, Any]:
    return scorecards.describe(scorecards.new_version(session, code=code, definition=body, by=user))


@router.get("/settings")
def read_settings(session: DbSession, user: CurrentUser) -> dict[str, Any]:
    return settings.as_dict(settings.policy(session))


@router.put("/settings/{key}")
def change_setting(key: str, value: int, session: DbSession, user: AdminUser) -> dict[str, Any]:
    return settings.as_dict(settings.set_value(session, key=key, value=value, by=user))
