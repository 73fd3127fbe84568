"""Where people work: sites (with their time zone), teams within a site, and the skills calls
are routed by. Who holds which skill at what level is set in `core.users`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import get_settings
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Site, Skill, Team, User
from core.users import audit

# Sites, teams, skills -----------------------------------------------------------------------

DEFAULT_SKILLS = (
    ("inquiry", "Inquiries"),
    ("complaint", "Complaints"),
    ("membership", "Membership"),
    ("callback", "Callbacks"),
    ("operator", "Operator"),
    ("mandarin", "Mandarin"),
    ("english", "English"),
)


def create_site(session: Session, *, name: str, code: str, timezone: str | None = None,
                address: str | None = None, by: User | None = None) -> Site:
    code = code.strip().lower()
    if session.scalar(select(Site.id).where(Site.code == code)) is not None:
        raise Conflict("Another site already has this code; choose another.", field="code", params={"code": code})
    zone = timezone or get_settings().timezone
    try:
        ZoneInfo(zone)
    except Exception as exc:  # noqa: BLE001 - any lookup failure means the name is wrong
        raise ValidationFailed("Unknown time zone; choose one of the list, such as Asia/Shanghai.", field="timezone",
                               params={"zone": zone}) from exc
    site = Site(name=name.strip(), code=code, timezone=zone, address=address)
    session.add(site)
    session.flush()
    audit(session, action="site.created", actor=by, object_type="site", object_id=site.id, details={"code": code})
    return site


def get_site(session: Session, *, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("No such site.")
    return site


def get_site_by_code(session: Session, *, code: str) -> Site | None:
    """The site with this code (codes are stored lower-case, so " North " finds "north")."""
    return session.scalar(select(Site).where(Site.code == code.strip().lower()))


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.name)))


def create_team(session: Session, *, name: str, site_id: int, by: User | None = None) -> Team:
    get_site(session, site_id=site_id)
    team = Team(name=name.strip(), site_id=site_id)
    session.add(team)
    session.flush()
    audit(session, action="team.created", actor=by, object_type="team", object_id=team.id,
          details={"site_id": site_id})
    return team


def list_teams(session: Session, *, site_id: int | None = None) -> list[Team]:
    query = select(Team).order_by(Team.name)
    if site_id is not None:
        query = query.where(Team.site_id == site_id)
    return list(session.scalars(query))


def create_skill(session: Session, *, code: str, name: str, by: User | None = None) -> Skill:
    code = code.strip().lower()
    if session.scalar(select(Skill.id).where(Skill.code == code)) is not None:
        raise Conflict("A skill with this code already exists; choose another code.", field="code",
                       params={"code": code})
    skill = Skill(code=code, name=name.strip())
    session.add(skill)
    session.flush()
    audit(session, action="skill.created", actor=by, object_type="skill", object_id=skill.id, details={"code": code})
    return skill


def ensure_default_skills(session: Session) -> list[Skill]:
    """The IVR menu's skills and the two languages; safe to call again."""
    existing = {s.code for s in list_skills(session)}
    for code, name in DEFAULT_SKILLS:
        if code not in existing:
            create_skill(session, code=code, name=name)
    return list_skills(session)


def list_skills(session: Session) -> list[Skill]:
    return list(session.scalars(select(Skill).order_by(Skill.code)))


def site_timezone(session: Session, site_id: int | None) -> str:
    """The site's time zone name, or the hub's default when there is no site (the whole center)."""
    zone = session.scalar(select(Site.timezone).where(Site.id == site_id)) if site_id is not None else None
    return zone or get_settings().timezone
