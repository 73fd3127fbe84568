"""The customer figures of a month (`/reports/customers`, and `.csv`): member development and
spending per site (seed 002), complaint and churn rates, satisfaction (CSAT) per agent and team,
first-contact resolution, and the department's weekly totals (seed 003) with a chart drawn on
the server. From `tickets.figures`: counts, sums and shares only, never a customer."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui.pages.reports import MESSAGES, _whole_center, month_and_site
from agent_ui.templating import render
from core import organisation
from core.audit import record as audit
from core.auth import ClientIP, DbSession, TeamLeaderUser
from core.db import write_locked
from core.directory import staff_names
from core.errors import DomainError
from core.models import User
from tickets import figures

router = APIRouter()

PAGE = "reports/customers.html"
CHART_HEIGHT = 120
CSV_COLUMNS = ("section", "key", "value")


def _figures(session: DbSession, user: User, month: str, site: str) -> tuple[Any, dict[str, str], str, int | None]:
    _period, errors, key, site_id = month_and_site(session, user, month, site)
    found = None
    if not errors:
        try:
            found = figures.month_figures(session, site_id=site_id, month=key)
        except DomainError:
            errors["month"] = MESSAGES["month"]
    return found, errors, key, site_id


def _chart(weeks: list[figures.Week]) -> list[dict[str, Any]]:
    """Bars of the weekly totals, scaled to the largest (heights in the SVG's units)."""
    top = max([max(w.taken, w.supervised, w.answered, w.followed_up) for w in weeks] + [1])
    return [{"week": w, "bars": [(name, value, round(value * CHART_HEIGHT / top))
                                 for name, value in (("taken", w.taken), ("supervised", w.supervised),
                                                     ("answered", w.answered), ("followed_up", w.followed_up))]}
            for w in weeks]


@router.get("/reports/customers", include_in_schema=False)
def customer_report(request: Request, session: DbSession, user: TeamLeaderUser, month: str = "",
                    site: str = "") -> Response:
    found, errors, key, site_id = _figures(session, user, month, site)
    names = staff_names(session, set(found.satisfaction_by_agent)) if found else {}
    teams = {t.id: t.name for t in organisation.list_teams(session)} if found else {}
    context = {"f": found, "month": key, "errors": errors, "site": site[:12],
               "sites": organisation.list_sites(session) if _whole_center(user) else [],
               "site_name": next((s.name for s in organisation.list_sites(session) if s.id == site_id), ""),
               "agent_names": {k: v.display_name for k, v in names.items()}, "team_names": teams,
               "chart": _chart(found.weeks) if found else [], "chart_height": CHART_HEIGHT}
    return render(request, PAGE, context, status_code=422 if errors else 200)


def _rows(found: figures.CustomerFigures) -> list[tuple[str, str, object]]:
    rows: list[tuple[str, str, object]] = [
        ("members", "customers", found.customers), ("members", "new_customers", found.new_customers),
        *[("members", f"tier_{tier}", n) for tier, n in found.by_tier.items()],
        ("spending", "purchases", found.purchases), ("spending", "spend_cents", found.spend_cents),
        ("spending", "buyers", found.buyers), ("rates", "complaints", found.complaints),
        ("rates", "complaint_rate", found.complaint_rate), ("rates", "churned", found.churned),
        ("rates", "active_before", found.active_before), ("rates", "churn_rate", found.churn_rate),
        ("rates", "resolved", found.resolved), ("rates", "first_contact_resolution", found.first_contact_resolution),
        ("satisfaction", "calls", found.satisfaction.calls), ("satisfaction", "scored", found.satisfaction.scored),
        ("satisfaction", "average", found.satisfaction.average), ("satisfaction", "csat", found.satisfaction.csat),
    ]
    rows += [(f"agent_{agent_id}", "csat", s.csat) for agent_id, s in sorted(found.satisfaction_by_agent.items())]
    rows += [(f"team_{team_id}", "csat", s.csat) for team_id, s in sorted(found.satisfaction_by_team.items())]
    for week in found.weeks:
        rows += [(f"week_{week.start.isoformat()}", name, getattr(week, name))
                 for name in ("taken", "supervised", "answered", "followed_up")]
    return rows


@router.get("/reports/customers.csv", include_in_schema=False)
def customer_report_csv(request: Request, session: DbSession, user: TeamLeaderUser, ip: ClientIP, month: str = "",
                        site: str = "") -> Response:
    """The same figures as rows of (section, key, value): codes a spreadsheet reads, in any language."""
    write_locked(session)  # the export is audited: this read ends with a write
    found, errors, key, site_id = _figures(session, user, month, site)
    if found is None:
        return Response("; ".join(sorted(errors)) or "invalid", status_code=422, media_type="text/plain")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(("" if v is None else v for v in row) for row in _rows(found))
    audit(session, action="report.customers.exported", actor_id=user.id, actor_name=user.username,
          object_type="customer_report", object_id=f"site:{site_id}" if site_id else "center", source_ip=ip,
          details={"month": key})
    scope = f"site-{site_id}" if site_id else "center"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="customers-{scope}-{key}.csv"', "Cache-Control": "no-store"})
