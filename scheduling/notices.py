"""Notices from leaders: published to a site or team, acknowledged by each agent before going
available (a check the composition root registers into telephony's `before_available`), read
receipts for leaders."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from core import audit, clock
from core.directory import list_users
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import publish
from core.models import Role, User
from core.users import get as get_user
from scheduling import access
from scheduling.models import Notice, NoticeAck
from scheduling.texts import check_length
from telephony import presence


def publish_notice(session: Session, *, title: str, body: str, by: User, site_id: int | None = None,
                   team_id: int | None = None) -> Notice:
    access.require_role(by, Role.team_leader, "publish notices")
    if site_id is None and not access.at_least(by, Role.center_head):
        site_id = by.site_id
    access.require_site(by, site_id, "publish notices")
    if not title.strip() or not body.strip():
        raise ValidationFailed("A notice needs a title and a text.", field="title")
    check_length("body", body.strip())
    notice = Notice(title=title.strip()[:200], body=body.strip(), site_id=site_id, team_id=team_id,
                    published_by_id=by.id, published_at=clock.now())
    session.add(notice)
    session.flush()
    publish(session, "notice.published", {"notice_id": notice.id}, site_id=site_id, team_id=team_id)
    return notice


def _for_user(user: User) -> ColumnElement[bool]:
    return and_(Notice.withdrawn_at.is_(None), Notice.published_at <= clock.now(),
                or_(Notice.site_id.is_(None), Notice.site_id == user.site_id),
                or_(Notice.team_id.is_(None), Notice.team_id == user.team_id))


def notices_for(session: Session, *, user: User, limit: int = 50) -> list[Notice]:
    return list(session.scalars(select(Notice).where(_for_user(user)).order_by(Notice.published_at.desc())
                                .limit(limit)))


def unacknowledged(session: Session, *, user: User) -> list[Notice]:
    acked = exists().where(NoticeAck.notice_id == Notice.id, NoticeAck.user_id == user.id)
    return list(session.scalars(select(Notice).where(_for_user(user), ~acked).order_by(Notice.published_at)))


def get(session: Session, *, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound("No such notice.")
    return notice


def acknowledge(session: Session, *, notice_id: int, by: User) -> NoticeAck:
    """Idempotent: acknowledging twice keeps the first time."""
    notice = get(session, notice_id=notice_id)
    if session.scalar(select(Notice.id).where(Notice.id == notice.id, _for_user(by))) is None:
        raise NotFound("No such notice for you.")
    ack = session.scalar(select(NoticeAck).where(NoticeAck.notice_id == notice.id, NoticeAck.user_id == by.id))
    if ack is None:
        ack = NoticeAck(notice_id=notice.id, user_id=by.id, at=clock.now())
        session.add(ack)
        session.flush()
    return ack


def withdraw(session: Session, *, notice_id: int, by: User, reason: str = "") -> Notice:
    """A leader takes a notice back: nobody has to acknowledge it any more (it stops blocking
    going available), leaders still see it marked as withdrawn, and the audit trail says who and
    why. Withdrawing twice keeps the first withdrawal."""
    notice = get(session, notice_id=notice_id)
    access.require_role(by, Role.team_leader, "withdraw notices")
    access.require_site(by, notice.site_id, "withdraw notices")
    if notice.withdrawn_at is not None:
        raise Conflict("The notice is already withdrawn.")
    notice.withdrawn_at = clock.now()
    session.flush()
    audit.record(session, action="notice.withdrawn", actor_id=by.id, object_type="notice", object_id=notice.id,
                 details={"reason": reason.strip()[:200]} if reason.strip() else None)
    publish(session, "notice.withdrawn", {"notice_id": notice.id}, site_id=notice.site_id, team_id=notice.team_id)
    return notice


def withdrawn_by(session: Session, *, notice_id: int) -> int | None:
    """Who withdrew the notice, from the audit trail (the one place that records it)."""
    entries = audit.entries_for(session, object_type="notice", object_id=notice_id, action_prefix="notice.withdrawn",
                                limit=1)
    return entries[0].actor_id if entries else None


def published_for(session: Session, *, viewer: User, limit: int = 50) -> list[Notice]:
    """What a leader manages: the latest notices of their site (every site's for a center head),
    withdrawn ones included so that the withdrawal stays visible."""
    access.require_role(viewer, Role.team_leader, "manage notices")
    query = select(Notice).where(Notice.published_at <= clock.now()).order_by(Notice.published_at.desc())
    if not access.at_least(viewer, Role.center_head):
        query = query.where(or_(Notice.site_id.is_(None), Notice.site_id == viewer.site_id))
    return list(session.scalars(query.limit(min(limit, 500))))


def read_receipts(session: Session, *, notice_id: int, by: User) -> dict[str, list[dict[str, object]]]:
    """Who of the notice's audience (active agents and team leaders) has read it, and who not."""
    notice = get(session, notice_id=notice_id)
    access.require_role(by, Role.team_leader, "see read receipts")
    access.require_site(by, notice.site_id, "see read receipts")
    audience = [u for u in list_users(session, site_id=notice.site_id, team_id=notice.team_id)
                if u.role in (Role.agent.value, Role.team_leader.value)]
    acks = {a.user_id: a.at for a in session.scalars(select(NoticeAck).where(NoticeAck.notice_id == notice.id))}
    read, unread = [], []
    for user in audience:
        entry = {"user_id": user.id, "display_name": user.display_name}
        if user.id in acks:
            read.append({**entry, "at": acks[user.id].isoformat()})
        else:
            unread.append(entry)
    return {"read": read, "unread": unread}


def _before_available(session: Session, user_id: int) -> tuple[str, dict[str, object]] | None:
    pending = unacknowledged(session, user=get_user(session, user_id=user_id))
    if not pending:
        return None
    return ("Read and acknowledge the notices below before taking calls. Unread: %(titles)s.",
            {"titles": ", ".join(n.title for n in pending[:3]), "count": len(pending)})


def register_presence_check() -> None:
    """Join telephony's checks run before an agent goes available. The composition root calls
    this in every process (hotline.hooks), so the rule never depends on who imported this module."""
    if _before_available not in presence.before_available:
        presence.before_available.append(_before_available)
