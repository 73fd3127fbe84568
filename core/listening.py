"""Who may hear a recording: one rule for every route that serves audio. The agent who took the
call (for disputes); a team leader their team's calls; a supervisor their site's; a QA inspector
the site or team they work in and those an administrator assigned them to cover, and any
recording handed to them (sampling, calibration); the center head every site's. Administrators
configure the hub and hear none. Refusals are audited; each listen is audited by the route
that serves it (telephony)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import assignments
from core.audit import record_refusal
from core.errors import PermissionDenied
from core.models import Role, Team, User


@dataclass(frozen=True)
class Recorded:
    """What the rule needs of a recording: whose call it was (the agent who answered; for a
    voicemail, nobody), the call's site and the ticket it is attached to."""

    recording_id: int
    agent_id: int | None
    site_id: int | None
    ticket_id: int | None = None


class ListenRefused(PermissionDenied):
    """You may not hear this recording: it is not of your own calls, your team's or your site's."""

    code = "listen_refused"


# Other packages' reasons to let someone hear a recording handed to them (QA's sampling and
# calibration, the ticket a voicemail is assigned on): `check(session, user, recorded) -> bool`.
# Wired by the composition root (hotline.hooks), in the web app and the worker alike.
HandedCheck = Callable[[Session, User, Recorded], bool]
handed_checks: list[HandedCheck] = []


def also_handed_by(check: HandedCheck) -> None:
    if check not in handed_checks:
        handed_checks.append(check)


def _place(session: Session, user_id: int | None) -> tuple[int | None, int | None]:
    """(site, team) where someone works now: their team's site, else their own."""
    if user_id is None:
        return None, None
    row = session.execute(select(User.site_id, User.team_id, Team.site_id.label("team_site_id"))
                          .select_from(User).outerjoin(Team, Team.id == User.team_id)
                          .where(User.id == user_id)).first()
    if row is None:
        return None, None
    return row.team_site_id or row.site_id, row.team_id


def basis(session: Session, *, user: User, recorded: Recorded) -> str | None:
    """Why `user` may hear the recording (own, team, site, assigned, center, handed), or None."""
    if not user.is_active:
        return None
    if recorded.agent_id is not None and recorded.agent_id == user.id:
        return "own"
    site, team = _place(session, recorded.agent_id)
    site = site if site is not None else recorded.site_id
    role = user.role
    if role == Role.center_head.value:
        return "center"
    mine_site, mine_team = _place(session, user.id)
    if role == Role.team_leader.value and mine_team is not None and mine_team == team:
        return "team"
    if role == Role.supervisor.value and mine_site is not None and mine_site == site:
        return "site"
    if role == Role.qa_inspector.value:
        # An inspector placed in a team covers that team; placed at a site (no team), the site;
        # and whatever an administrator assigned them to cover.
        sites, teams = assignments.qa_coverage(session, user_id=user.id)
        sites |= {mine_site} if mine_team is None and mine_site is not None else set()
        teams |= {mine_team} if mine_team is not None else set()
        if (site is not None and site in sites) or (team is not None and team in teams):
            return "assigned"
    if role != Role.admin.value and any(check(session, user, recorded) for check in handed_checks):
        return "handed"
    return None


def may_hear(session: Session, *, user: User, recorded: Recorded) -> bool:
    return basis(session, user=user, recorded=recorded) is not None


def require_hear(session: Session, *, user: User, recorded: Recorded, source_ip: str | None = None) -> str:
    """The basis on which `user` may hear the recording, or ListenRefused (audited)."""
    found = basis(session, user=user, recorded=recorded)
    if found is None:
        record_refusal(session, action="recording.listen_refused", actor_id=user.id, actor_name=user.username,
                       object_type="recording", object_id=recorded.recording_id, source_ip=source_ip,
                       details={"agent_id": recorded.agent_id, "site_id": recorded.site_id})
        raise ListenRefused()
    return found
