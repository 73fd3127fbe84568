"""The people part of the JSON API: who am I (for scripts checking their API token)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from core.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["people"])


class SitePublic(BaseModel):
    id: int
    name: str
    code: str
    timezone: str


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    job_type: str
    site: SitePublic | None
    team_id: int | None
    locale: str | None


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    site = SitePublic.model_validate(user.site, from_attributes=True) if user.site is not None else None
    return UserPublic(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                      job_type=user.job_type, site=site, team_id=user.team_id, locale=user.locale)
