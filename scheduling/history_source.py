"""The forecast's call history, read through telephony's `history` service (scheduling never
reads telephony's tables): the last weeks of a site's calls turned into the weekday × interval
profile the forecast scales, with the handle time and the callers' measured patience."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.organisation import site_timezone
from scheduling.forecast import HistoryProfile

MAX_WEEKS = 26
# The handle time assumed where the history has no answered call at all (3 minutes).
FALLBACK_AHT_SECONDS = 180.0


@dataclass(frozen=True)
class ForecastBasis:
    """The profile, and the figures a planner checks it by."""

    profile: HistoryProfile
    first_day: date
    last_day: date
    offered: int
    answered: int
    abandoned: int
    mean_handle_seconds: float | None
    patience_seconds: float | None


def profile_for_site(session: Session, *, site_id: int, today: date, weeks: int = 8,
                     interval_minutes: int = 30) -> ForecastBasis:
    """The `weeks` full weeks of history before `today` (a local date of the site): mean calls per
    weekday and interval (days without calls count as 0), mean handle time per cell (else over
    all answered calls), and patience from the abandons."""
    from telephony.history import call_history

    if not 1 <= weeks <= MAX_WEEKS:
        raise ValidationFailed("Give 1 to %(weeks)s weeks of history.", field="weeks", params={"weeks": MAX_WEEKS})
    zone = site_timezone(session, site_id)
    last = today - timedelta(days=1)
    first = today - timedelta(days=7 * weeks)
    history = call_history(session, zone=zone, first_day=first, last_day=last, interval_minutes=interval_minutes,
                           site_id=site_id)
    default_aht = history.mean_handle_seconds or FALLBACK_AHT_SECONDS
    profile = HistoryProfile(
        interval_minutes=interval_minutes, zone=zone,
        calls={key: cell.offered / history.weekdays[key[0]] for key, cell in history.cells.items()},
        aht_seconds={key: cell.mean_handle_seconds for key, cell in history.cells.items()
                     if cell.mean_handle_seconds is not None},
        default_aht_seconds=default_aht, patience_seconds=history.patience_seconds,
    )
    return ForecastBasis(profile, first, last, history.offered, history.answered, history.abandoned,
                         history.mean_handle_seconds, history.patience_seconds)
