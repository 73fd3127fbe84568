"""The state machine of an offer (a call rung to one agent): its states, the transitions allowed
between them (as data), and the one way an offer changes state, a conditional `UPDATE … WHERE
state IN (…)`, so that two processes settling the same offer (an answer racing the timeout, a
withdrawal racing an answer) cannot both win, whatever each read before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import clock
from telephony.models.routing import Offer

__all__ = ["ACCEPTED", "ALLOWED_FROM", "DECLINED", "EXPIRED", "FINAL", "PENDING", "STATES", "WITHDRAWN", "can_move",
           "move"]

PENDING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN = "pending", "accepted", "declined", "expired", "withdrawn"
STATES = (PENDING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN)
# A pending offer is answered, declined, times out or is withdrawn (the caller left, the agent
# went on a break). An accepted one is declined after all when its agent hung up before the
# caller was moved in (the call waits again). Nothing returns to pending, nothing leaves a final state.
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    ACCEPTED: (PENDING,),
    DECLINED: (PENDING, ACCEPTED),
    EXPIRED: (PENDING,),
    WITHDRAWN: (PENDING,),
}
FINAL = frozenset({DECLINED, EXPIRED, WITHDRAWN})


def can_move(current: str, state: str) -> bool:
    return current in ALLOWED_FROM.get(state, ())


def move(session: Session, offer: Offer, state: str, *, reason: str | None = None,
         at: datetime | None = None) -> bool:
    """Move `offer` to `state` if the row's current state allows it (checked by the UPDATE itself,
    not by what this session read). Returns whether it moved; either way `offer` then shows the
    row's state. Settling a pending offer stamps `resolved_at`; declining an accepted one stamps
    `ended_at` (its handle time ends there)."""
    if state not in ALLOWED_FROM:
        raise ValueError(f"an offer cannot be moved to {state!r}")
    now = at or clock.now()
    values: dict[str, Any] = {
        "state": state,
        "resolved_at": case((Offer.state == PENDING, literal(now, Offer.resolved_at.type)), else_=Offer.resolved_at),
        "ended_at": case((Offer.state == ACCEPTED, literal(now, Offer.ended_at.type)), else_=Offer.ended_at),
    }
    if reason is not None:
        values["reason"] = reason
    session.flush()  # the offer's own pending changes first: the UPDATE below bypasses the session
    # SET reads the row as it was: the CASEs see the state being left.
    statement = (update(Offer).where(Offer.id == offer.id, Offer.state.in_(ALLOWED_FROM[state])).values(**values)
                 .returning(Offer.state, Offer.reason, Offer.resolved_at, Offer.ended_at)
                 .execution_options(synchronize_session=False))
    row = session.execute(statement).first()
    if row is None:
        session.refresh(offer, attribute_names=["state", "reason", "resolved_at", "ended_at"])
        return False
    for name in ("state", "reason", "resolved_at", "ended_at"):
        set_committed_value(offer, name, getattr(row, name))
    return True
