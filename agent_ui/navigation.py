"""The navigation bar per role and the words for roles and duties. A page appears in the bar
as soon as its route exists, so later pages only need to be registered here once.

The bar keeps the daily pages at the top level and gathers the rest into a few groups (a
disclosure menu each), so a manager's bar fits on one line; a group a role would see with a
single page in it is not a group for that role: the page stands at the top level instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from starlette.requests import Request
from starlette.routing import Match

from agent_ui.i18n import N_
from core import permissions
from core.models import Role


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: str  # English msgid, translated in the template


# A group takes the place of its first page in NAV, after the daily pages at the top level.
CALLS_AND_CUSTOMERS = NavGroup("calls_and_customers", N_("Calls and customers"))
SHIFTS_AND_DUTY = NavGroup("shifts_and_duty", N_("Shifts and duty"))
QUALITY_AND_REPORTS = NavGroup("quality_and_reports", N_("Quality and reports"))
SETTINGS = NavGroup("settings", N_("Settings"))
GROUPS: tuple[NavGroup, ...] = (CALLS_AND_CUSTOMERS, SHIFTS_AND_DUTY, QUALITY_AND_REPORTS, SETTINGS)


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str  # English msgid, translated in the template
    path: str
    roles: frozenset[Role]
    also: tuple[str, ...] = ()  # other paths this entry stands for (it is shown current on them)
    group: NavGroup | None = None  # None: always at the top level


# The bar's order: a group stands where its first page would.
NAV: tuple[NavItem, ...] = (
    NavItem("home", N_("Home"), "/", permissions.EVERYONE),
    NavItem("desktop", N_("Desktop"), "/desktop", frozenset({Role.agent, Role.team_leader})),
    NavItem("floor", N_("Floor"), "/floor", permissions.TEAM_LEADERS),
    NavItem("calls", N_("Calls"), "/calls", permissions.AGENTS | {Role.qa_inspector}, group=CALLS_AND_CUSTOMERS),
    NavItem("tickets", N_("Tickets"), "/tickets", permissions.AGENTS, group=CALLS_AND_CUSTOMERS),
    NavItem("customers", N_("Customers"), "/customers", permissions.AGENTS, group=CALLS_AND_CUSTOMERS),
    # Managers reach the requests waiting for them from the authorisations page (and their reminders).
    NavItem("authorisations", N_("Callback authorisations"), "/authorisations", permissions.TEAM_LEADERS,
            also=("/authorisations/requests",), group=CALLS_AND_CUSTOMERS),
    NavItem("authorisation_requests", N_("Authorisation requests"), "/authorisations/requests",
            frozenset({Role.agent}), group=CALLS_AND_CUSTOMERS),
    NavItem("shifts", N_("Shifts and leave"), "/shifts", permissions.AGENTS, group=SHIFTS_AND_DUTY),
    # Shift templates are reached from the rosters page; the bar marks Rosters there.
    NavItem("rosters", N_("Rosters"), "/shifts/rosters", permissions.TEAM_LEADERS, also=("/shifts/templates",),
            group=SHIFTS_AND_DUTY),
    NavItem("duty", N_("Roll call and handover"), "/duty", permissions.TEAM_LEADERS, group=SHIFTS_AND_DUTY),
    NavItem("notices", N_("Notices"), "/notices", permissions.EVERYONE, group=SHIFTS_AND_DUTY),
    NavItem("qa", N_("Quality"), "/qa", permissions.QA, group=QUALITY_AND_REPORTS),
    NavItem("my_evaluations", N_("My evaluations"), "/qa/mine", frozenset({Role.agent}), group=QUALITY_AND_REPORTS),
    # A team leader's quality pages: coverage and trend first, which links to the monthly report,
    # coaching and the training plan; one entry keeps the bar short.
    NavItem("qa_coverage", N_("Quality"), "/qa/coverage", frozenset({Role.team_leader}),
            also=("/qa/reports", "/qa/coaching", "/qa/training"), group=QUALITY_AND_REPORTS),
    NavItem("reports", N_("Reports"), "/reports", permissions.QA | permissions.TEAM_LEADERS,
            group=QUALITY_AND_REPORTS),
    NavItem("admin", N_("Administration"), "/admin", permissions.ADMINS, group=SETTINGS),
    # Administrators reach the audit trail from the administration pages; center heads from here.
    NavItem("audit", N_("Audit trail"), "/admin/audit", frozenset({Role.center_head}), group=SETTINGS),
    NavItem("tokens", N_("API tokens"), "/account/tokens", permissions.EVERYONE, group=SETTINGS),
)

ROLE_LABELS: dict[Role, str] = {
    Role.agent: N_("Agent"),
    Role.team_leader: N_("Team leader"),
    Role.qa_inspector: N_("QA inspector"),
    Role.supervisor: N_("Supervisor"),
    Role.center_head: N_("Center head"),
    Role.admin: N_("Administrator"),
}

# What each role does here (DOMAIN.md, "People and roles"), for the welcome panel.
DUTIES: dict[Role, tuple[str, ...]] = {
    Role.agent: (
        N_("Set your presence and take the calls routed to you."),
        N_("See the caller's card and write the ticket, then wrap up."),
        N_("Make callbacks you are authorised for."),
        N_("Read the notices at the start of your shift."),
        N_("Ask for leave and shift swaps."),
    ),
    Role.team_leader: (
        N_("Run roll call and keep the duty log."),
        N_("Write and accept handovers."),
        N_("Approve shift swaps and leave within your limits."),
        N_("Watch queue load and the ticket backlog."),
        N_("Handle escalations and difficult callers."),
    ),
    Role.qa_inspector: (
        N_("Sample and score recordings on the scorecard."),
        N_("Run calibration sessions."),
        N_("Write weekly training plans and monthly QA reports."),
    ),
    Role.supervisor: (
        N_("Own escalations and major complaints."),
        N_("Approve one-day leave."),
        N_("Grant callback authorisations."),
        N_("Read the reports."),
    ),
    Role.center_head: (
        N_("Approve leave over one day and business leave."),
        N_("Receive escalations that skip levels."),
        N_("Read the reports."),
    ),
    Role.admin: (
        N_("Manage users, sites and skills."),
        N_("Set up scorecards, SLA and IVR settings, and holidays."),
    ),
}


@dataclass(frozen=True)
class ShownItem:
    key: str
    label: str
    path: str
    current: bool
    is_group: ClassVar[bool] = False


@dataclass(frozen=True)
class ShownGroup:
    key: str
    label: str
    items: tuple[ShownItem, ...]
    is_group: ClassVar[bool] = True

    @property
    def current(self) -> bool:
        """The group holding this page is marked, so the reader sees where they are while it is closed."""
        return any(item.current for item in self.items)


def page_exists(request: Request, path: str) -> bool:
    """Whether some route answers GET `path` (asked through the routes' own matching, since
    included routers are not flattened into `app.routes`)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def items_for(request: Request, role: str) -> list[ShownItem]:
    """The bar for a role: the pages it may open that exist already."""
    here = request.url.path
    visible = [item for item in NAV if permissions.allowed(role, item.roles) and page_exists(request, item.path)]
    # The entry whose path is the longest prefix of this page is the current one (so /shifts/rosters
    # marks "Rosters", not "Shifts and leave" too).
    matches = {item.key: max((len(p) for p in (item.path, *item.also) if _under(here, p)), default=-1)
               for item in visible}
    best = max(matches.values(), default=-1)
    return [ShownItem(item.key, item.label, item.path, best >= 0 and matches[item.key] == best) for item in visible]


def bar_for(request: Request, role: str) -> list[ShownItem | ShownGroup]:
    """The bar as shown: `items_for` in order, with each group's pages gathered where the group's
    first page stands; a group of one page leaves it at the top level."""
    group_of = {item.key: item.group for item in NAV}
    gathered: dict[str, list[ShownItem]] = {}
    slots: list[ShownItem | NavGroup] = []
    for shown in items_for(request, role):
        group = group_of[shown.key]
        if group is None:
            slots.append(shown)
            continue
        if group.key not in gathered:
            gathered[group.key] = []
            slots.append(group)
        gathered[group.key].append(shown)
    bar: list[ShownItem | ShownGroup] = []
    for slot in slots:
        if isinstance(slot, ShownItem):
            bar.append(slot)
        elif len(gathered[slot.key]) == 1:
            bar.append(gathered[slot.key][0])
        else:
            bar.append(ShownGroup(slot.key, slot.label, tuple(gathered[slot.key])))
    return bar


def _under(here: str, path: str) -> bool:
    return here == path or (path != "/" and here.startswith(path + "/"))


def role_label(role: str) -> str:
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role


def duties_for(role: str) -> tuple[str, ...]:
    try:
        return DUTIES[Role(role)]
    except ValueError:
        return ()
