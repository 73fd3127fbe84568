"""Shift swaps: requested with every rule checked, confirmed by the partner, approved by both team
leaders (the one leader when both share a team; nobody stands in for them), then registered (the
shift changes hands) after the rules are checked once more."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import audit, clock, directory
from core.events import publish
from core.models import Role, User
from core.users import get as get_user
from scheduling import access, holidays
from scheduling import shifts as shift_service
from scheduling.errors import AlreadyDecided, NotYourTurn, RequestNotFound, SwapRuleViolated
from scheduling.models import LeaveRequest, Shift, SwapRequest
from scheduling.rules import swaps as rules
from scheduling.settings import policy

LIVE = ("proposed", "registered")


def _month(shift: Shift, zone: str) -> str:
    return shift.start_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def _party(session: Session, user: User, shift: Shift, month: str, exclude_id: int | None) -> rules.Party:
    near = shift_service.neighbours(session, user_id=user.id, start=shift.start_at, end=shift.end_at)
    leave = session.execute(select(LeaveRequest.start_at, LeaveRequest.end_at).where(
        LeaveRequest.user_id == user.id, LeaveRequest.status.in_(("pending", "approved")),
        LeaveRequest.start_at < shift.end_at, LeaveRequest.end_at > shift.start_at)).all()
    involved = or_(SwapRequest.requester_id == user.id, SwapRequest.partner_id == user.id)
    others = SwapRequest.id != (exclude_id or 0)
    count = session.scalar(select(func.count()).select_from(SwapRequest).where(
        involved, others, SwapRequest.month == month, SwapRequest.status.in_(LIVE),
        SwapRequest.pays_back_id.is_(None))) or 0
    unpaid = session.execute(select(SwapRequest.id, Shift.day).join(Shift, Shift.id == SwapRequest.shift_id).where(
        involved, others, SwapRequest.status.in_(LIVE), SwapRequest.pays_back_id.is_(None),
        SwapRequest.paid_back_at.is_(None))).all()
    return rules.Party(user.id, user.display_name, user.job_type, shift_service.skill_levels(session, user_id=user.id),
                       near, [(s, e) for s, e in leave], count, [(i, d) for i, d in unpaid],
                       [leader.id for leader in _team_leaders(session, user)])


def _team_leaders(session: Session, person: User) -> list[User]:
    """The active team leaders of the person's team: who approves their side of a swap."""
    if person.team_id is None:
        return []
    return directory.list_users(session, team_id=person.team_id, role=Role.team_leader)


def _leads(leader: User, person: User) -> bool:
    return leader.role == Role.team_leader.value and leader.team_id is not None and leader.team_id == person.team_id


def facts_for(session: Session, *, shift: Shift, requester: User, partner: User, pays_back_id: int | None,
              exclude_id: int | None = None) -> rules.SwapFacts:
    zone = shift_service.site_of(session, shift.site_id).timezone
    month = _month(shift, zone)
    payback = None
    if pays_back_id is not None:
        original = get(session, swap_id=pays_back_id)
        payback = rules.Payback(original.id, original.requester_id, original.partner_id,
                                paid=original.paid_back_at is not None)
    return rules.SwapFacts(
        requester=_party(session, requester, shift, month, exclude_id),
        partner=_party(session, partner, shift, month, exclude_id),
        shift=rules.SwapShift(shift.id, shift.user_id, shift.start_at, shift.end_at, shift.day, month, shift.skill_id,
                              shift_service.skill_code(session, shift.skill_id)),
        now=clock.now(),
        holidays=holidays.public_holidays(session, site_id=shift.site_id, first=shift.day, last=shift.day),
        pays_back=payback, skill_codes={skill_id: code for code, skill_id in shift_service.skill_ids(session).items()},
    )


def request(session: Session, *, shift_id: int, partner_id: int, by: User, pays_back_id: int | None = None,
            note: str = "") -> SwapRequest:
    """`by` asks `partner` to work `by`'s shift; refused with every broken rule."""
    shift = shift_service.get(session, shift_id=shift_id)
    partner = get_user(session, user_id=partner_id)
    facts = facts_for(session, shift=shift, requester=by, partner=partner, pays_back_id=pays_back_id)
    violations = rules.evaluate(facts, policy(session))
    if violations:
        raise SwapRuleViolated(violations)
    swap = SwapRequest(requester_id=by.id, partner_id=partner.id, shift_id=shift.id, pays_back_id=pays_back_id,
                       month=facts.shift.month, note=note.strip())
    session.add(swap)
    session.flush()
    audit.record(session, action="swap.requested", actor_id=by.id, object_type="swap", object_id=swap.id,
                 details={"shift_id": shift.id, "partner_id": partner.id, "pays_back_id": pays_back_id})
    publish(session, "swap.requested", {"swap_id": swap.id}, user_id=partner.id)
    return swap


def get(session: Session, *, swap_id: int, lock: bool = False) -> SwapRequest:
    query = select(SwapRequest).where(SwapRequest.id == swap_id)
    swap = session.scalar(query.with_for_update() if lock else query)
    if swap is None:
        raise RequestNotFound("No such swap.")
    return swap


def _open(session: Session, swap_id: int) -> SwapRequest:
    swap = get(session, swap_id=swap_id, lock=True)
    if swap.status != "proposed":
        raise AlreadyDecided()
    return swap


def confirm(session: Session, *, swap_id: int, by: User) -> SwapRequest:
    swap = _open(session, swap_id)
    if by.id != swap.partner_id:
        raise NotYourTurn("Only the colleague asked to work the shift confirms the swap.")
    swap.partner_confirmed_at = clock.now()
    return _maybe_register(session, swap, by)


def _pending_sides(swap: SwapRequest, by: User, requester: User, partner: User) -> list[str]:
    """The sides of the swap `by` approves now: those of their own team still waiting."""
    return [side for side, person in (("requester", requester), ("partner", partner))
            if getattr(swap, f"{side}_leader_id") is None and _leads(by, person)]


def approve(session: Session, *, swap_id: int, by: User) -> SwapRequest:
    """Both team leaders approve: each side by a team leader of that person's team, so two
    different leaders when the two work in different teams, and the one leader for both sides
    when they share a team. Nobody else (a supervisor, the center head) stands in for them."""
    swap = _open(session, swap_id)
    access.require_role(by, Role.team_leader, "approve swaps")
    requester, partner = get_user(session, user_id=swap.requester_id), get_user(session, user_id=swap.partner_id)
    sides = _pending_sides(swap, by, requester, partner)
    if not sides:
        raise NotYourTurn("Only the team leaders of the two people approve this swap (or it is already approved).")
    now = clock.now()
    for side in sides:
        setattr(swap, f"{side}_leader_id", by.id)
        setattr(swap, f"{side}_leader_at", now)
    return _maybe_register(session, swap, by)


def _maybe_register(session: Session, swap: SwapRequest, by: User) -> SwapRequest:
    session.flush()
    if not (swap.partner_confirmed_at and swap.requester_leader_id and swap.partner_leader_id):
        publish(session, "swap.changed", {"swap_id": swap.id, "status": swap.status}, user_id=swap.requester_id)
        return swap
    # Shifts, leave and other swaps may have changed since the request: check everything again.
    shift = shift_service.get(session, shift_id=swap.shift_id, lock=True)
    requester, partner = get_user(session, user_id=swap.requester_id), get_user(session, user_id=swap.partner_id)
    facts = facts_for(session, shift=shift, requester=requester, partner=partner, pays_back_id=swap.pays_back_id,
                      exclude_id=swap.id)
    violations = rules.evaluate(facts, policy(session))
    if violations:
        raise SwapRuleViolated(violations)
    now = clock.now()
    shift.user_id, shift.source = partner.id, ("payback" if swap.pays_back_id else "swap")
    swap.status, swap.registered_at = "registered", now
    if swap.pays_back_id:
        swap.paid_back_at = now
        get(session, swap_id=swap.pays_back_id, lock=True).paid_back_at = now
    session.flush()
    audit.record(session, action="swap.registered", actor_id=by.id, object_type="swap", object_id=swap.id,
                 details={"shift_id": shift.id, "from": requester.id, "to": partner.id})
    publish(session, "swap.registered", {"swap_id": swap.id, "shift_id": shift.id}, site_id=shift.site_id)
    return swap


def refuse(session: Session, *, swap_id: int, by: User, note: str = "") -> SwapRequest:
    swap = _open(session, swap_id)
    requester, partner = get_user(session, user_id=swap.requester_id), get_user(session, user_id=swap.partner_id)
    leader = access.at_least(by, Role.team_leader) and (
        by.team_id in (requester.team_id, partner.team_id) or access.at_least(by, Role.supervisor))
    if by.id not in (swap.partner_id, swap.requester_id) and not leader:
        raise NotYourTurn("Only the two people or their team leaders can turn a swap down.")
    swap.status = "cancelled" if by.id == swap.requester_id else "refused"
    swap.note = (swap.note + "\n" + note).strip() if note else swap.note
    session.flush()
    publish(session, "swap.changed", {"swap_id": swap.id, "status": swap.status}, user_id=swap.requester_id)
    return swap


def approvable(session: Session, *, swaps: list[SwapRequest], by: User) -> set[int]:
    """Which of these swaps `by` may approve now (a side of their team is waiting)."""
    live = [s for s in swaps if s.status == "proposed"]
    if by.role != Role.team_leader.value or not live:
        return set()
    people = directory.users_by_id(session, {s.requester_id for s in live} | {s.partner_id for s in live})
    return {s.id for s in live if s.requester_id in people and s.partner_id in people
            and _pending_sides(s, by, people[s.requester_id], people[s.partner_id])}


def list_swaps(session: Session, *, viewer: User, status: str | None = None, limit: int = 200) -> list[SwapRequest]:
    query = select(SwapRequest).order_by(SwapRequest.created_at.desc())
    if not access.at_least(viewer, Role.team_leader):
        query = query.where(or_(SwapRequest.requester_id == viewer.id, SwapRequest.partner_id == viewer.id))
    elif not access.at_least(viewer, Role.center_head):
        places = directory.user_places().subquery()
        query = query.join(places, places.c.user_id == SwapRequest.requester_id).where(
            places.c.site_id == viewer.site_id)
    if status:
        query = query.where(SwapRequest.status == status)
    return list(session.scalars(query.limit(min(limit, 1000))))


__all__ = ["approvable", "approve", "confirm", "facts_for", "get", "list_swaps", "refuse", "request"]
