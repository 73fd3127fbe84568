"""Presence as spells (state, from, until) for adherence and roll call, read through telephony's
`presence_log` service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

# On the phones (or ready for them): what adherence and arrival count as being at one's post.
AT_POST = frozenset({"available", "offered", "on_call", "wrap_up"})
BREAK = "break"
# Not at the post: leaving for this long or longer is a violation (see Policy.away_violation_minutes).
OFF_POST = frozenset({"away", "offline"})


@dataclass(frozen=True)
class Spell:
    state: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def spells(session: Session, *, user_id: int, start: datetime, end: datetime) -> list[Spell]:
    """The person's presence from `start` to `end` as consecutive spells (offline when unknown)."""
    from telephony.presence import presence_log

    rows = presence_log(session, user_id=user_id, start=start, end=end)
    state, moment, out = "offline", start, []
    for row in rows:
        if row.at <= start:
            state = row.to_state
            continue
        if row.at > moment:
            out.append(Spell(state, moment, row.at))
        state, moment = row.to_state, row.at
    if end > moment:
        out.append(Spell(state, moment, end))
    return out
