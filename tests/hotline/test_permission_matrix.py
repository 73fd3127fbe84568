"""The permission matrix: one table of every route of the real app x every role (and a named
site manager, and nobody signed in) x the object's owner (the person themself, someone of their
team, of their site, of another site) -> the expected answer, run against the real app on both
databases. A route with no row in the table, or a row with no route, fails the test.

Two parts make the table. GATES names, for every route, who passes its door (relation-blind: the
route is asked with objects that do not exist, so only the door answers). OBJECTS gives, for the
routes that serve or change customer data, tickets and recordings, the answer for each persona
and each relation, with real objects made for each cell: those rules are written from the
membership plan (DOMAIN.md, "Customer data"), not read from the code."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import _iter_routes_with_context
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import assignments
from core.clock import FrozenClock
from core.models import Role, Site, Team, User
from tests.factories import cheap_password_hashing, make_api_token, make_site, make_team, make_user, signed_in_client
from tests.qa.conftest import record_call
from tests.tickets.factories_customers import make_customer, next_phone
from tickets import service as ticket_service

__all__ = ["cheap_password_hashing"]

PERSONAS = ("anonymous", "agent", "team_leader", "qa_inspector", "supervisor", "site_manager", "center_head",
            "admin")
RELATIONS = ("own", "same_team", "same_site", "other_site")
SIGNED_IN = frozenset(PERSONAS) - {"anonymous"}
PUBLIC = frozenset(PERSONAS)
AGENTS = SIGNED_IN - {"qa_inspector"}
FIGURES = SIGNED_IN - {"agent"}
QA = frozenset({"qa_inspector", "supervisor", "site_manager", "center_head", "admin"})
LEADERS = AGENTS - {"agent"}
SUPERVISORS = frozenset({"supervisor", "site_manager", "center_head", "admin"})
ADMINS = frozenset({"admin"})
TWILIO: frozenset[str] = frozenset()  # a webhook without Twilio's signature is refused to anyone

# Who passes each route's door.
GATES: dict[str, frozenset[str]] = {
    # PUBLIC
    "GET /twilio/hold-music.wav": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /signin": PUBLIC,
    # SIGNED_IN
    "GET /openapi.json": SIGNED_IN,
    "GET /api/docs": SIGNED_IN,
    "GET /api/v1/tickets": SIGNED_IN,
    "GET /api/v1/tickets/by-number/{number}": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}/notes": SIGNED_IN,
    "GET /api/v1/tickets/{ticket_id}/timeline": SIGNED_IN,
    "GET /api/v1/notifications": SIGNED_IN,
    "POST /api/v1/notifications/{notification_id}/read": SIGNED_IN,
    "GET /recordings/{recording_id}": SIGNED_IN,
    "GET /api/qa/scorecards": SIGNED_IN,
    "GET /api/qa/scorecards/{scorecard_id}": SIGNED_IN,
    "GET /api/qa/settings": SIGNED_IN,
    "GET /api/qa/evaluations": SIGNED_IN,
    "GET /api/qa/evaluations/{evaluation_id}": SIGNED_IN,
    "GET /api/qa/evaluations/{evaluation_id}/player": SIGNED_IN,
    "GET /api/qa/evaluations/{evaluation_id}/notes": SIGNED_IN,
    "GET /api/qa/evaluations/{evaluation_id}/timeline": SIGNED_IN,
    "GET /api/qa/recordings/{recording_id}/audio": SIGNED_IN,
    "GET /api/qa/reports/weekly": SIGNED_IN,
    "GET /api/qa/briefing": SIGNED_IN,
    "GET /api/qa/reports/monthly": SIGNED_IN,
    "GET /api/qa/reports/meeting": SIGNED_IN,
    "GET /api/qa/reports/meeting.csv": SIGNED_IN,
    "GET /api/qa/teams/{team_id}/minimum": frozenset(),  # no such team: refused to all
    "PUT /api/qa/teams/{team_id}/minimum": QA,
    "GET /api/scheduling/settings": AGENTS,
    "PUT /api/scheduling/settings/{key}": ADMINS,
    "GET /qa/reports/meeting": SUPERVISORS,
    "POST /qa/coverage/minimum": frozenset(),  # no such team: refused to all
    "POST /reminders/{notification_id}/dismiss": SIGNED_IN,
    "GET /api/qa/reports/monthly.csv": SIGNED_IN,
    "GET /api/qa/reports/monthly.pdf": SIGNED_IN,
    "POST /signin": SIGNED_IN,  # a post without the sign-in page's cookie is refused (CSRF)
    "POST /signout": PUBLIC,
    "POST /language": SIGNED_IN,
    "GET /": SIGNED_IN,
    "GET /account/tokens": SIGNED_IN,
    "POST /account/tokens": SIGNED_IN,
    "POST /account/tokens/{token_id}/revoke": SIGNED_IN,
    "GET /qa/evaluations/{evaluation_id}": SIGNED_IN,
    "GET /qa/mine": SIGNED_IN,
    "POST /qa/evaluations/{evaluation_id}/acknowledge": SIGNED_IN,
    "POST /qa/evaluations/{evaluation_id}/dispute": SIGNED_IN,
    "GET /api/me": SIGNED_IN,
    # AGENTS
    "POST /api/v1/tickets": AGENTS,
    "PATCH /api/v1/tickets/{ticket_id}": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/transition": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/escalate": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/hand-to-team-leader": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/complaint-reply": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/phone-followup": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/notes": AGENTS,
    "GET /api/v1/customers": AGENTS,
    "POST /api/v1/customers/lookup": AGENTS,
    "GET /api/v1/customers/lookup": AGENTS,
    "GET /api/v1/customers/{customer_id}": AGENTS,
    "GET /api/v1/customers/{customer_id}/history": AGENTS,
    "POST /api/v1/customers": AGENTS,
    "PATCH /api/v1/customers/{customer_id}": AGENTS,
    "POST /api/v1/customers/{customer_id}/points/redeem": AGENTS,
    "GET /api/v1/followups": AGENTS,
    "POST /api/v1/followups/{followup_id}/complete": AGENTS,
    "GET /api/v1/grants": AGENTS,
    "GET /api/v1/grant-requests": AGENTS,
    "POST /api/v1/grant-requests": AGENTS,
    "POST /api/v1/grant-requests/{request_id}/grant": AGENTS,
    "POST /api/v1/grant-requests/{request_id}/decline": AGENTS,
    "POST /api/v1/grant-requests/{request_id}/withdraw": AGENTS,
    "GET /api/v1/phone": AGENTS,
    "POST /api/v1/phone/answer": AGENTS,
    "POST /api/v1/phone/decline": AGENTS,
    "POST /api/v1/phone/hangup": AGENTS,
    "POST /api/v1/calls/{call_id}/hold": AGENTS,
    "POST /api/v1/calls/{call_id}/resume": AGENTS,
    "POST /api/v1/calls/{call_id}/transfer": AGENTS,
    "POST /api/v1/calls/{call_id}/transfer/cancel": AGENTS,
    "POST /api/v1/calls/{call_id}/recording/pause": AGENTS,
    "POST /api/v1/calls/{call_id}/recording/resume": AGENTS,
    "POST /api/v1/calls/{call_id}/escalate": AGENTS,
    "GET /api/v1/calls/{call_id}/controls": AGENTS,
    "POST /api/v1/tickets/{ticket_id}/callback": AGENTS,
    "GET /api/v1/tickets/{ticket_id}/callbacks": AGENTS,
    "GET /api/v1/voice/token": AGENTS,
    "POST /api/scheduling/forecast": AGENTS,
    "GET /api/scheduling/templates": AGENTS,
    "GET /api/scheduling/shifts/mine": AGENTS,
    "GET /api/scheduling/notices": AGENTS,
    "POST /api/scheduling/notices/{notice_id}/ack": AGENTS,
    "POST /api/scheduling/leave": AGENTS,
    "GET /api/scheduling/leave": AGENTS,
    "POST /api/scheduling/leave/{leave_id}/cancel": AGENTS,
    "POST /api/scheduling/days-off": AGENTS,
    "DELETE /api/scheduling/days-off/{day_off_id}": AGENTS,
    "POST /api/scheduling/swaps": AGENTS,
    "GET /api/scheduling/swaps": AGENTS,
    "POST /api/scheduling/swaps/{swap_id}/confirm": AGENTS,
    "POST /api/scheduling/swaps/{swap_id}/refuse": AGENTS,
    "POST /api/qa/evaluations/{evaluation_id}/acknowledge": AGENTS,
    "POST /api/qa/evaluations/{evaluation_id}/dispute": AGENTS,
    "GET /desktop": AGENTS,
    "POST /desktop/presence": AGENTS,
    "POST /desktop/notices/{notice_id}/acknowledge": AGENTS,
    "POST /desktop/phone/{action}": AGENTS,
    "POST /desktop/tickets/{ticket_id}": AGENTS,
    "POST /desktop/tickets/{ticket_id}/resolve": AGENTS,
    "POST /desktop/tickets/{ticket_id}/callback": AGENTS,
    "POST /desktop/tickets/{ticket_id}/attach": AGENTS,
    "GET /tickets": AGENTS,
    "POST /tickets": AGENTS,
    "GET /tickets/{ticket_id}": AGENTS,
    "GET /tickets/by-number/{number}": AGENTS,
    "POST /tickets/{ticket_id}/notes": AGENTS,
    "POST /tickets/{ticket_id}/status": AGENTS,
    "POST /tickets/{ticket_id}/escalate": AGENTS,
    "POST /tickets/{ticket_id}/edit": AGENTS,
    "POST /tickets/{ticket_id}/grant": AGENTS,
    "POST /tickets/{ticket_id}/grant-request": AGENTS,
    "GET /authorisations/requests": AGENTS,
    "POST /authorisations/requests/{request_id}/grant": AGENTS,
    "POST /authorisations/requests/{request_id}/decline": AGENTS,
    "POST /authorisations/requests/{request_id}/withdraw": AGENTS,
    "POST /tickets/{ticket_id}/assign": AGENTS,
    "POST /tickets/{ticket_id}/tags": AGENTS,
    "POST /tickets/{ticket_id}/tags/remove": AGENTS,
    "POST /tickets/{ticket_id}/reply": AGENTS,
    "POST /tickets/{ticket_id}/phone-followup": AGENTS,
    "POST /tickets/{ticket_id}/satisfaction": AGENTS,
    "GET /customers/{customer_id}": AGENTS,
    "GET /customers": AGENTS,
    "POST /customers": AGENTS,
    "POST /customers/{customer_id}/points/redeem": AGENTS,
    "POST /customers/{customer_id}/grant-request": AGENTS,
    "GET /shifts": AGENTS,
    "POST /shifts/leave": AGENTS,
    "POST /shifts/leave/{leave_id}/{action}": AGENTS,
    "POST /shifts/days-off": AGENTS,
    "POST /shifts/days-off/{day_off_id}/withdraw": AGENTS,
    "POST /shifts/swaps": AGENTS,
    "POST /shifts/swaps/{swap_id}/{action}": AGENTS,
    "GET /notices": SIGNED_IN,
    "POST /notices/{notice_id}/acknowledge": SIGNED_IN,
    "GET /calls": SIGNED_IN,  # QA inspectors find calls to score there
    # FIGURES
    "GET /api/v1/customers/aggregates": FIGURES,
    "GET /qa/training": FIGURES,
    "GET /qa/coaching": FIGURES,
    "POST /qa/coaching/{task_id}/done": FIGURES,
    "GET /qa/coverage": FIGURES,
    "GET /qa/coverage/data.json": FIGURES,
    "GET /qa/reports/monthly": FIGURES,
    "GET /reports": FIGURES,
    "GET /reports/calls.json": FIGURES,
    "GET /reports/calls.csv": FIGURES,
    # QA
    "POST /api/qa/evaluations": QA,
    "PUT /api/qa/evaluations/{evaluation_id}": QA,
    "POST /api/qa/evaluations/{evaluation_id}/notes": QA,
    "POST /api/qa/evaluations/{evaluation_id}/submit": QA,
    "GET /api/qa/disputes": QA,
    "POST /api/qa/disputes/{dispute_id}/arbitrate": QA,
    "POST /api/qa/sampling/plans": QA,
    "GET /api/qa/sampling/plans/{plan_id}/assignments": QA,
    "GET /api/qa/sampling/coverage": QA,
    "GET /api/qa/queue": QA,
    "POST /api/qa/calibrations": QA,
    "POST /api/qa/calibrations/{calibration_id}/evaluation": QA,
    "GET /api/qa/calibrations/{calibration_id}/evaluations": QA,
    "GET /api/qa/calibrations/{calibration_id}/report": QA,
    "POST /api/qa/training-plans": QA,
    "PUT /api/qa/training-plans/{plan_id}": QA,
    "POST /api/qa/training-plans/{plan_id}/publish": QA,
    "GET /qa": QA,
    "POST /qa/evaluations": QA,
    "POST /qa/evaluations/{evaluation_id}/answers": QA,
    "POST /qa/evaluations/{evaluation_id}/submit": QA,
    "POST /qa/evaluations/{evaluation_id}/notes": QA,
    "GET /qa/disputes": QA,
    "POST /qa/disputes/{dispute_id}/arbitrate": QA,
    "POST /qa/training": QA,
    "POST /qa/training/{plan_id}": QA,
    "GET /qa/calibrations/new": QA,
    "POST /qa/calibrations": QA,
    "GET /qa/calibrations/{calibration_id}": QA,
    "POST /qa/calibrations/{calibration_id}/evaluation": QA,
    "GET /qa/calibrations/{calibration_id}/report": QA,
    # LEADERS
    "GET /api/v1/complaints/analysis": LEADERS,
    "GET /api/v1/customers/quiet": LEADERS,
    "POST /api/v1/grants": LEADERS,
    "POST /api/v1/grants/{grant_id}/extend": LEADERS,
    "POST /api/v1/grants/{grant_id}/revoke": LEADERS,
    "POST /api/v1/calls/{call_id}/monitor": LEADERS,
    "GET /api/scheduling/forecast/history": LEADERS,
    "POST /api/scheduling/templates": LEADERS,
    "POST /api/scheduling/rosters": LEADERS,
    "GET /api/scheduling/rosters/{roster_id}": LEADERS,
    "POST /api/scheduling/rosters/{roster_id}/jobs": LEADERS,
    "GET /api/scheduling/roster-jobs/{job_id}": LEADERS,
    "POST /api/scheduling/rosters/{roster_id}/shifts": LEADERS,
    "DELETE /api/scheduling/rosters/{roster_id}/shifts/{shift_id}": LEADERS,
    "POST /api/scheduling/rosters/{roster_id}/publish": LEADERS,
    "GET /api/scheduling/adherence": LEADERS,
    "POST /api/scheduling/roll-call": LEADERS,
    "POST /api/scheduling/roll-call/{shift_id}/excuse": LEADERS,
    "POST /api/scheduling/notices": LEADERS,
    "POST /api/scheduling/notices/{notice_id}/withdraw": LEADERS,
    "GET /api/scheduling/notices/{notice_id}/receipts": LEADERS,
    "POST /api/scheduling/duty-logs": LEADERS,
    "PATCH /api/scheduling/duty-logs/{log_id}": LEADERS,
    "GET /api/scheduling/duty-logs/weekly": LEADERS,
    "PUT /api/scheduling/duty-logs/{log_id}/handover": LEADERS,
    "POST /api/scheduling/handovers/{handover_id}/submit": LEADERS,
    "POST /api/scheduling/handovers/{handover_id}/accept": LEADERS,
    "POST /api/scheduling/handovers/{handover_id}/return": LEADERS,
    "POST /api/scheduling/handovers/{handover_id}/additions": LEADERS,
    "GET /api/scheduling/leave/certificates": LEADERS,
    "POST /api/scheduling/leave/{leave_id}/certificate": LEADERS,
    "POST /api/scheduling/swaps/{swap_id}/approve": LEADERS,
    "PUT /api/qa/reports/quality": LEADERS,
    "POST /api/qa/reports/quality/submit": LEADERS,
    "GET /api/qa/coaching": LEADERS,
    "POST /api/qa/coaching/{task_id}/done": LEADERS,
    "GET /floor": LEADERS,
    "GET /floor/figures.json": LEADERS,
    "POST /floor/grants": LEADERS,
    "POST /floor/grants/{grant_id}/extend": LEADERS,
    "POST /floor/grants/{grant_id}/revoke": LEADERS,
    "GET /authorisations": LEADERS,
    "POST /authorisations": LEADERS,
    "POST /authorisations/{grant_id}/extend": LEADERS,
    "POST /authorisations/{grant_id}/revoke": LEADERS,
    "GET /shifts/rosters": LEADERS,
    "POST /shifts/rosters": LEADERS,
    "GET /shifts/templates": LEADERS,
    "POST /shifts/templates": LEADERS,
    "POST /shifts/templates/{template_id}": LEADERS,
    "POST /shifts/templates/{template_id}/active": LEADERS,
    "GET /shifts/rosters/{roster_id}": LEADERS,
    "POST /shifts/rosters/{roster_id}/assign": LEADERS,
    "POST /shifts/rosters/{roster_id}/shifts/{shift_id}/remove": LEADERS,
    "POST /shifts/rosters/{roster_id}/publish": LEADERS,
    "POST /shifts/rosters/{roster_id}/generate": LEADERS,
    "GET /shifts/rosters/{roster_id}/jobs/{job_id}": LEADERS,
    "GET /shifts/rosters/{roster_id}/coverage.json": LEADERS,
    "GET /duty": LEADERS,
    "POST /duty/rollcall/{shift_id}/excuse": LEADERS,
    "POST /duty/logs/{log_id}": LEADERS,
    "POST /duty/logs/{log_id}/handover": LEADERS,
    "GET /duty/handovers/{handover_id}": LEADERS,
    "POST /duty/handovers/{handover_id}/{action}": LEADERS,
    "GET /duty/weekly": LEADERS,
    "POST /notices": LEADERS,
    "POST /notices/{notice_id}/withdraw": LEADERS,
    "GET /reports/complaints": LEADERS,
    "GET /reports/customers": LEADERS,
    "GET /reports/customers.csv": LEADERS,
    # SUPERVISORS
    "POST /api/scheduling/leave/{leave_id}/approve": SUPERVISORS,
    "POST /api/scheduling/leave/{leave_id}/refuse": SUPERVISORS,
    "POST /api/qa/disputes/{dispute_id}/arbitrator": SUPERVISORS,
    "POST /qa/disputes/{dispute_id}/arbitrator": SUPERVISORS,
    # ADMINS
    "POST /api/v1/customers/{customer_id}/erase": ADMINS,
    "POST /api/v1/customers/{customer_id}/purchases": ADMINS,
    "POST /api/v1/customers/purchases/import": ADMINS,
    "GET /api/v1/tiers/preview": ADMINS,
    "POST /api/v1/customers/{customer_id}/erasure-request": ADMINS,
    "PUT /api/v1/sites/{site_id}/call-policy": ADMINS,
    "POST /api/qa/scorecards": ADMINS,
    "POST /api/qa/scorecards/{code}/versions": ADMINS,
    "PUT /api/qa/settings/{key}": ADMINS,
    "POST /customers/{customer_id}/erase": ADMINS,
    "GET /admin": ADMINS,
    "POST /admin/signin-holds/{key}/release": ADMINS,
    "GET /admin/ivr": ADMINS,
    "POST /admin/ivr": ADMINS,
    "POST /admin/ivr/reset": ADMINS,
    "GET /admin/sites": ADMINS,
    "POST /admin/sites": ADMINS,
    "GET /admin/sites/{site_id}": ADMINS,
    "GET /admin/holidays": ADMINS,
    "POST /admin/sites/{site_id}/hours": ADMINS,
    "POST /admin/sites/{site_id}/holidays": ADMINS,
    "POST /admin/holidays": ADMINS,
    "POST /admin/sites/{site_id}/holidays/remove": ADMINS,
    "POST /admin/holidays/remove": ADMINS,
    "POST /admin/sites/{site_id}/managers": ADMINS,
    "POST /admin/sites/{site_id}/qa-coverage": ADMINS,
    "POST /admin/sites/{site_id}/assignments/{assignment_id}/remove": ADMINS,
    "GET /admin/teams": ADMINS,
    "POST /admin/teams": ADMINS,
    "GET /admin/skills": ADMINS,
    "POST /admin/skills": ADMINS,
    "GET /admin/sla": ADMINS,
    "POST /admin/sla/policies": ADMINS,
    "GET /admin/scorecards": ADMINS,
    "GET /admin/scorecards/{scorecard_id}": ADMINS,
    "POST /admin/scorecards/{scorecard_id}/versions": ADMINS,
    "GET /admin/people": ADMINS,
    "GET /admin/people/new": ADMINS,
    "POST /admin/people": ADMINS,
    "GET /admin/people/{user_id}": ADMINS,
    "POST /admin/people/{user_id}/role": ADMINS,
    "POST /admin/people/{user_id}/place": ADMINS,
    "POST /admin/people/{user_id}/skills": ADMINS,
    "POST /admin/people/{user_id}/skills/remove": ADMINS,
    "POST /admin/people/{user_id}/unlock": ADMINS,
    "POST /admin/people/{user_id}/active": ADMINS,
    "POST /admin/people/{user_id}/password": ADMINS,
    "GET /admin/lifecycle": ADMINS,
    "POST /admin/lifecycle/settings": ADMINS,
    "GET /admin/settings": ADMINS,
    "POST /admin/settings/{namespace}": ADMINS,
    "POST /admin/settings/reset": ADMINS,
    "POST /admin/lifecycle/thresholds": ADMINS,
    "POST /admin/lifecycle/greetings": ADMINS,
    "POST /admin/lifecycle/greetings/remove": ADMINS,
    "POST /admin/lifecycle/purchases": ADMINS,
    "GET /jobs/{job_id}": SIGNED_IN,
    "GET /admin/backups": ADMINS,
    "GET /admin/audit": frozenset({"center_head", "admin"}),  # the audit trail: who looked at what
    "POST /admin/backups": ADMINS,
    # TWILIO
    "POST /twilio/voice": TWILIO,
    "POST /twilio/menu": TWILIO,
    "POST /twilio/wait": TWILIO,
    "POST /twilio/queue-result": TWILIO,
    "POST /twilio/voicemail": TWILIO,
    "POST /twilio/voicemail-done": TWILIO,
    "POST /twilio/agent/answer": TWILIO,
    "POST /twilio/conference": TWILIO,
    "POST /twilio/conference/done": TWILIO,
    "POST /twilio/conference/events": TWILIO,
    "POST /twilio/status": TWILIO,
    "POST /twilio/recording": TWILIO,
    "POST /twilio/controls/leg": TWILIO,
    "POST /twilio/callbacks/answer": TWILIO,
    "POST /twilio/callbacks/status": TWILIO,
    "POST /twilio/callbacks/agent": TWILIO,
    "POST /qa/reports/quality": TWILIO,
    "MOUNT /static": PUBLIC,
    "WS /ws": AGENTS,  # the desktop's live fragments: everyone who takes or leads calls
}


# Answers --------------------------------------------------------------------------------------

AUTH, DENY, HIDDEN, PASS, FULL, MASKED, FOUND = "sign in", "403", "404", "passes", "full card", "masked", "found"
REFUSALS = {AUTH, DENY, HIDDEN, MASKED}
OWNERS = frozenset({"agent", "team_leader", "supervisor", "site_manager", "center_head"})  # may own customers


def card(persona: str, relation: str) -> str:
    """Details: one's own customers; a named site manager their site's; everyone else masked."""
    if persona == "anonymous":
        return AUTH
    if persona == "qa_inspector":
        return DENY
    own = relation == "own" and persona in OWNERS
    return FULL if own or (persona == "site_manager" and relation != "other_site") else MASKED


def details_only(persona: str, relation: str) -> str:
    """What needs the details (the change history, a change): refused with a masked card."""
    answer = card(persona, relation)
    return PASS if answer == FULL else (DENY if answer == MASKED else answer)


def hear(persona: str, relation: str) -> str:
    """Recordings by assignment: own calls; a team leader the team's; QA and supervisors the
    site's (QA placed at the site); the center head all; administrators none but their own."""
    if persona == "anonymous":
        return AUTH
    allowed = {"own": SIGNED_IN,
               "same_team": {"team_leader", "qa_inspector", "supervisor", "site_manager", "center_head"},
               "same_site": {"qa_inspector", "supervisor", "site_manager", "center_head"},
               "other_site": {"center_head"}}[relation]
    return PASS if persona in allowed else DENY


def grant(persona: str, relation: str) -> str:
    """A callback authorisation for the owner, for a customer of the owner's site: the site's
    manager or supervisor (here: of site A), the center head anywhere; nobody to themselves."""
    if persona == "anonymous":
        return AUTH
    if persona in ("agent", "qa_inspector") or relation == "own":
        return DENY
    if persona == "center_head" or (persona in ("supervisor", "site_manager") and relation != "other_site"):
        return PASS
    return DENY


def ticket(persona: str, relation: str) -> str:
    """Tickets: an agent their own and their team's; a team leader their team and site; QA and
    supervisors their site; the center head and administrators all. Others read as missing."""
    if persona == "anonymous":
        return AUTH
    if persona in ("center_head", "admin") or relation == "own":
        return PASS
    if persona == "agent":
        return PASS if relation == "same_team" else HIDDEN
    return PASS if relation != "other_site" else HIDDEN


def lookup(persona: str, relation: str) -> str:
    """Finding a number: an agent their own customers; managers their site's; center-wide
    managers every site's; QA none. Someone else's customer reads as an unknown number."""
    if persona in ("anonymous", "qa_inspector"):
        return AUTH if persona == "anonymous" else DENY
    if persona == "agent":
        return FOUND if relation == "own" else HIDDEN
    if persona in ("center_head", "admin"):
        return FOUND
    return FOUND if relation != "other_site" else HIDDEN


@dataclass(frozen=True)
class ObjectRow:
    expect: Callable[[str, str], str]
    make: str  # the kind of object each cell gets: customer, recording, ticket
    body: Callable[[Any], Any] | None = None
    read: str = "status"  # "card" (JSON masked flag), "page" (the name on the page), "found"


OBJECTS: dict[str, ObjectRow] = {
    "GET /api/v1/customers/{customer_id}": ObjectRow(card, "customer", read="card"),
    "GET /customers/{customer_id}": ObjectRow(card, "customer", read="page"),
    "GET /api/v1/customers/{customer_id}/history": ObjectRow(details_only, "customer"),
    "PATCH /api/v1/customers/{customer_id}": ObjectRow(
        details_only, "customer", body=lambda o: {"json": {"special_needs": "none", "requested_by_customer": True}}),
    "POST /api/v1/customers/{customer_id}/points/redeem": ObjectRow(
        details_only, "customer", body=lambda o: {"json": {"points": 1, "reason": "matrix"}}),
    "POST /api/v1/customers/lookup": ObjectRow(lookup, "customer", body=lambda o: {"json": {"phone": o.phone}},
                                               read="found"),
    "POST /api/v1/grants": ObjectRow(grant, "customer", read="created", body=lambda o: {"json": {
        "customer_id": o.id, "agent_id": o.owner_id, "reason": "matrix"}}),
    "GET /recordings/{recording_id}": ObjectRow(hear, "recording"),
    "GET /api/qa/recordings/{recording_id}/audio": ObjectRow(hear, "recording"),
    "GET /api/v1/tickets/{ticket_id}": ObjectRow(ticket, "ticket"),
}


# The world --------------------------------------------------------------------------------------

@dataclass
class World:
    sites: dict[str, Site]
    teams: dict[str, Team]
    people: dict[str, User]  # the personas
    owners: dict[str, User]  # the owner of each relation's objects, but "own"
    tokens: dict[str, str]


@pytest.fixture
def world(session: Session) -> World:
    sites = {"A": make_site(session), "B": make_site(session)}
    teams = {"A1": make_team(session, site=sites["A"]), "A2": make_team(session, site=sites["A"]),
             "B1": make_team(session, site=sites["B"])}
    people = {
        "agent": make_user(session, role=Role.agent, team=teams["A1"]),
        "team_leader": make_user(session, role=Role.team_leader, team=teams["A1"]),
        "qa_inspector": make_user(session, role=Role.qa_inspector, site=sites["A"]),
        "supervisor": make_user(session, role=Role.supervisor, site=sites["A"]),
        "site_manager": make_user(session, role=Role.supervisor, site=sites["A"]),
        "center_head": make_user(session, role=Role.center_head, site=sites["A"]),
        "admin": make_user(session, role=Role.admin, site=sites["A"]),
    }
    assignments.assign_site_manager(session, site_id=sites["A"].id, user_id=people["site_manager"].id, by=None)
    session.commit()
    owners = {"same_team": make_user(session, role=Role.agent, team=teams["A1"]),
              "same_site": make_user(session, role=Role.agent, team=teams["A2"]),
              "other_site": make_user(session, role=Role.agent, team=teams["B1"])}
    tokens = {name: make_api_token(session, person) for name, person in people.items()}
    return World(sites, teams, people, owners, tokens)


@dataclass(frozen=True)
class Made:
    id: int
    owner_id: int | None
    phone: str = ""


def _owner(world: World, persona: str, relation: str) -> User | None:
    if relation != "own":
        return world.owners[relation]
    return world.people.get(persona)


def _site_of(world: World, user: User | None) -> Site:
    if user is None or user.team_id is None:
        return world.sites["A"] if user is None or user.site_id in (None, world.sites["A"].id) else world.sites["B"]
    return next(s for s in world.sites.values() if s.id == next(t for t in world.teams.values()
                                                                  if t.id == user.team_id).site_id)


def make_object(session: Session, world: World, kind: str, persona: str, relation: str, clock: FrozenClock,
                media: Path) -> Made:
    owner = _owner(world, persona, relation)
    site = _site_of(world, owner)
    if kind == "customer":
        owning = owner if owner is not None and (persona in OWNERS or relation != "own") else None
        phone = next_phone()
        customer = make_customer(session, site=site, owner=owning, phones=[phone])
        return Made(customer.id, owner.id if owner else None, phone)
    if kind == "recording":
        recording = record_call(session, agent=owner, started_at=clock.now(), with_media=True)
        return Made(recording.id, owner.id if owner else None)
    made = ticket_service.open_ticket(session, category="inquiry", site_id=site.id,
                                      team_id=owner.team_id if owner else None,
                                      assignee_id=owner.id if owner else None)
    session.commit()
    return Made(made.id, owner.id if owner else None)


# Asking ----------------------------------------------------------------------------------------

def routes_of(app: Any) -> set[str]:
    found = set()
    for route, context in _iter_routes_with_context(app.router.routes):
        path = context.path if context else getattr(route, "path", "")
        methods = (context.methods if context else getattr(route, "methods", None)) or set()
        if not methods:
            found.add(f"{'WS' if 'WebSocket' in type(route).__name__ else 'MOUNT'} {path or '/ws'}")
        found.update(f"{m} {path}" for m in methods if m != "HEAD")
    return found


SIGNIN_FORMS = {"POST /signin", "POST /signout"}
PLACEHOLDERS = {"action": "approve", "code": "none", "key": "none", "namespace": "qa", "number": "HL-1999-999999"}


def _url(path: str, value: int | None = None) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: str(value) if value is not None and m.group(1).endswith("_id")
                  else PLACEHOLDERS.get(m.group(1), "999999"), path)


def classify(response: Any, read: str, made: Made | None, session: Session) -> str:
    status = response.status_code
    if status == 401 or (status in (302, 303, 307) and response.headers.get("location", "").startswith("/signin")):
        return AUTH
    if status == 403:
        return DENY
    if status == 404:
        return HIDDEN
    if status >= 500:
        return f"error {status}"
    if read == "card" and status == 200:
        return MASKED if response.json()["masked"] else FULL
    if read == "found" and status == 200:
        return FOUND
    if read == "created":  # a grant is made (201) or refused, whatever the reason
        return PASS if status == 201 else DENY
    if read == "page" and status == 200:
        return MASKED if 'class="card customer-card masked"' in response.text else FULL
    return PASS


def ask(client: TestClient, world: World, persona: str, method: str, url: str, **kwargs: Any) -> Any:
    headers = {} if persona == "anonymous" else {"Authorization": f"Bearer {world.tokens[persona]}"}
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


def test_every_route_has_a_row(app: Any) -> None:
    present = routes_of(app)
    missing, stale = sorted(present - set(GATES)), sorted(set(GATES) - present)
    assert not missing, f"routes with no row in the permission matrix: {missing}"
    assert not stale, f"rows of the permission matrix with no route: {stale}"
    assert set(OBJECTS) <= set(GATES)


@pytest.mark.timeout(600)  # ~9,000 requests, each with its own sign-in: minutes on a busy machine
def test_the_permission_matrix(client: TestClient, session: Session, world: World, clock: FrozenClock,
                               tmp_path: Path) -> None:
    wrong: list[str] = []
    cells = refusals = object_cells = 0
    for key, door in sorted(GATES.items()):
        method, path = key.split(" ", 1)
        if key in OBJECTS:
            row = OBJECTS[key]
            for persona, relation in itertools.product(PERSONAS, RELATIONS):
                made = make_object(session, world, row.make, persona, relation, clock, tmp_path)
                expected = row.expect(persona, relation)
                kwargs = row.body(made) if row.body else {}
                got = classify(ask(client, world, persona, method, _url(path, made.id), **kwargs), row.read, made,
                               session)
                cells, object_cells, refusals = cells + 1, object_cells + 1, refusals + (expected in REFUSALS)
                if got != expected:
                    wrong.append(f"{key} {persona}/{relation}: expected {expected}, got {got}")
            continue
        for persona in PERSONAS:
            expected = PASS if persona in door else (AUTH if persona == "anonymous" else DENY)
            got = _door(client, world, persona, method, path)
            # A door holds for any object: the four relations share this answer.
            cells, refusals = cells + len(RELATIONS), refusals + len(RELATIONS) * (expected in REFUSALS)
            if got != expected and not (expected == AUTH and got == DENY and method not in ("GET", "WS")):
                wrong.append(f"{key} {persona}: expected {expected}, got {got}")
    print(f"permission matrix: {len(GATES)} routes, {cells} cells ({object_cells} with real objects per relation), "
          f"{refusals} refusals checked")
    assert not wrong, f"{len(wrong)} cells differ:\n" + "\n".join(wrong)


def _door(client: TestClient, world: World, persona: str, method: str, path: str) -> str:
    if method == "MOUNT":
        response = ask(client, world, persona, "GET", "/static/css/hotline.css")
        return PASS if response.status_code == 200 else classify(response, "status", None, None)  # type: ignore[arg-type]
    if method == "WS":  # the live pages' websocket: a browser's sign-in, never a script's token
        with TestClient(client.app, base_url="http://testserver") as browser:
            if persona != "anonymous":
                signed_in_client(browser, world.people[persona])
            try:
                with browser.websocket_connect("/ws?page=desktop", headers={"Origin": "http://testserver"}):
                    return PASS
            except Exception:  # noqa: BLE001 - the handshake was refused
                return AUTH if persona == "anonymous" else DENY
    response = ask(client, world, persona, method, _url(path))
    if f"{method} {path}" in SIGNIN_FORMS and response.status_code == 303:
        return PASS  # back to the sign-in page is these forms' own answer
    answer = classify(response, "status", None, None)  # type: ignore[arg-type]
    return PASS if answer == HIDDEN else answer  # the door opened; the (missing) object is another matter
