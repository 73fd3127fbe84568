"""History to profile (volume by weekday and interval, handle time, patience), and forecast
intervals across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import ValidationFailed
from scheduling.forecast import Targets, estimate_patience, forecast, interval_starts, profile_from_history


def test_profile_averages_each_weekday_over_the_span() -> None:
    monday = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
    rows = [(monday + timedelta(minutes=m), 200, "answered", 10) for m in range(0, 10)]
    rows += [(monday + timedelta(days=7, minutes=m), 100, True, 5) for m in range(0, 20)]
    rows += [(monday + timedelta(days=7, minutes=1), 0, "abandoned", 60)]
    profile = profile_from_history(rows, interval_minutes=30, zone="UTC")
    calls, aht = profile.at(0, 18)  # Monday 09:00-09:30
    assert calls == pytest.approx((10 + 21) / 2)
    assert aht == pytest.approx((10 * 200 + 20 * 100) / 30)
    assert profile.at(1, 18) == (0.0, profile.default_aht_seconds)  # Tuesdays in the span had no calls


def test_patience_is_total_waiting_over_abandons() -> None:
    t = datetime(2026, 1, 5, tzinfo=UTC)
    assert estimate_patience([(t, 100, True, 30), (t, 0, False, 90), (t, 0, False, 60)]) == pytest.approx(90)
    assert estimate_patience([(t, 100, True, 30)]) is None


def test_dst_days_have_fewer_or_more_intervals() -> None:
    assert len(interval_starts(date(2026, 3, 29), interval_minutes=15, zone="Europe/Berlin")) == 92
    assert len(interval_starts(date(2026, 10, 25), interval_minutes=15, zone="Europe/Berlin")) == 100
    assert len(interval_starts(date(2026, 3, 30), interval_minutes=15, zone="Europe/Berlin")) == 96


def test_forecast_uses_the_profile_per_interval() -> None:
    monday = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    rows = [(monday + timedelta(seconds=18 * i), 180, True, 0) for i in range(100)]
    profile = profile_from_history(rows, interval_minutes=30, zone="Asia/Shanghai")
    result = forecast(profile, start=date(2026, 1, 12), days=1, targets=Targets(0.8, 20, shrinkage=0.3))
    assert len(result) == 48
    busy = [r for r in result if r.calls]
    assert len(busy) == 1 and busy[0].agents == 14 and busy[0].scheduled_agents == 20
    assert busy[0].start == datetime(2026, 1, 12, 1, 0, tzinfo=UTC)


def test_targets_are_validated_with_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Targets(level=1.5, shrinkage=1.0)
    assert len(caught.value.errors) == 2
