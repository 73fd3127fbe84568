"""The grouped main navigation: which pages each role sees at the top level and in which groups,
that no group holds a single page, that the grouping loses no page the flat bar linked, and that
the current page's link and its group are marked in the rendered bar."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.requests import Request

from agent_ui import navigation
from agent_ui.navigation import ShownGroup, ShownItem
from core.models import Role
from tests.agent_ui.desk import Desk, desk
from tests.factories import cheap_password_hashing, make_user, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]  # fixtures: imported to take effect here

# The flat bar before it was grouped (every page it linked, per role), so no page gets lost.
FLAT_BAR: dict[Role, set[str]] = {
    Role.agent: {"/", "/desktop", "/calls", "/tickets", "/customers", "/authorisations/requests", "/notices",
                 "/shifts", "/qa/mine", "/account/tokens"},
    Role.team_leader: {"/", "/desktop", "/calls", "/tickets", "/customers", "/notices", "/shifts", "/shifts/rosters",
                       "/duty", "/floor", "/qa/coverage", "/authorisations", "/reports", "/account/tokens"},
    Role.qa_inspector: {"/", "/calls", "/notices", "/qa", "/reports", "/account/tokens"},
    Role.supervisor: {"/", "/calls", "/tickets", "/customers", "/notices", "/shifts", "/shifts/rosters", "/duty",
                      "/floor", "/qa", "/authorisations", "/reports", "/account/tokens"},
    Role.center_head: {"/", "/calls", "/tickets", "/customers", "/notices", "/shifts", "/shifts/rosters", "/duty",
                       "/floor", "/qa", "/authorisations", "/reports", "/admin/audit", "/account/tokens"},
    Role.admin: {"/", "/calls", "/tickets", "/customers", "/notices", "/shifts", "/shifts/rosters", "/duty",
                 "/floor", "/qa", "/authorisations", "/reports", "/admin", "/account/tokens"},
}

_MANAGERS_BAR = [
    "home", "floor",
    ("calls_and_customers", ["calls", "tickets", "customers", "authorisations"]),
    ("shifts_and_duty", ["shifts", "rosters", "duty", "notices"]),
    ("quality_and_reports", ["qa", "reports"]),
]
# Top-level entries by key, groups as (group key, [its entries' keys]), in the bar's order.
EXPECTED_BAR: dict[Role, list[str | tuple[str, list[str]]]] = {
    Role.agent: [
        "home", "desktop",
        ("calls_and_customers", ["calls", "tickets", "customers", "authorisation_requests"]),
        ("shifts_and_duty", ["shifts", "notices"]),
        "my_evaluations", "tokens",
    ],
    Role.team_leader: [
        "home", "desktop", "floor",
        ("calls_and_customers", ["calls", "tickets", "customers", "authorisations"]),
        ("shifts_and_duty", ["shifts", "rosters", "duty", "notices"]),
        ("quality_and_reports", ["qa_coverage", "reports"]),
        "tokens",
    ],
    Role.qa_inspector: ["home", "calls", "notices", ("quality_and_reports", ["qa", "reports"]), "tokens"],
    Role.supervisor: [*_MANAGERS_BAR, "tokens"],
    # Administrators reach the audit trail from the administration pages.
    Role.center_head: [*_MANAGERS_BAR, ("settings", ["audit", "tokens"])],
    Role.admin: [*_MANAGERS_BAR, ("settings", ["admin", "tokens"])],
}


def _request(app: FastAPI, path: str = "/") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"",
                    "headers": [], "server": ("testserver", 80), "scheme": "http", "app": app})


def _shape(bar: list[ShownItem | ShownGroup]) -> list[str | tuple[str, list[str]]]:
    return [(entry.key, [item.key for item in entry.items]) if isinstance(entry, ShownGroup) else entry.key
            for entry in bar]


def _flat(bar: list[ShownItem | ShownGroup]) -> list[ShownItem]:
    return [item for entry in bar for item in (entry.items if isinstance(entry, ShownGroup) else (entry,))]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_its_daily_pages_on_top_and_the_rest_in_groups(app: FastAPI, role: Role) -> None:
    assert _shape(navigation.bar_for(_request(app), role.value)) == EXPECTED_BAR[role]


@pytest.mark.parametrize("role", list(Role))
def test_grouping_loses_no_page_of_the_flat_bar(app: FastAPI, role: Role) -> None:
    bar = navigation.bar_for(_request(app), role.value)
    paths = [item.path for item in _flat(bar)]
    assert len(paths) == len(set(paths)), "a page is linked twice"
    assert set(paths) == FLAT_BAR[role]
    # The same pages, in the same order, as the flat list the bar is built from.
    assert _flat(bar) == navigation.items_for(_request(app), role.value)


@pytest.mark.parametrize("role", list(Role))
def test_no_role_sees_a_group_of_one(app: FastAPI, role: Role) -> None:
    groups = [entry for entry in navigation.bar_for(_request(app), role.value) if isinstance(entry, ShownGroup)]
    assert all(len(group.items) >= 2 for group in groups), _shape(groups)  # type: ignore[arg-type]


def test_a_group_left_with_one_existing_page_gives_way_to_that_page() -> None:
    # Only some pages built yet: Calls alone of its group, Notices alone of its group.
    partial = FastAPI()
    for path in ("/", "/calls", "/notices", "/admin", "/account/tokens"):
        partial.add_api_route(path, lambda: PlainTextResponse("page"), methods=["GET"])
    bar = navigation.bar_for(_request(partial, "/calls"), Role.admin.value)
    assert _shape(bar) == ["home", "calls", "notices", ("settings", ["admin", "tokens"])]
    assert [entry.key for entry in bar if entry.current] == ["calls"]
    supervisor_bar = navigation.bar_for(_request(partial, "/account/tokens"), Role.supervisor.value)
    assert _shape(supervisor_bar) == ["home", "calls", "notices", "tokens"]


def test_the_current_page_marks_its_group_and_only_its_group(app: FastAPI) -> None:
    bar = navigation.bar_for(_request(app, "/shifts/rosters/7"), Role.supervisor.value)
    assert [entry.key for entry in bar if entry.current] == ["shifts_and_duty"]
    group = next(entry for entry in bar if entry.key == "shifts_and_duty")
    assert isinstance(group, ShownGroup)
    # The longest matching path wins: Rosters, not Shifts and leave as well.
    assert [item.key for item in group.items if item.current] == ["rosters"]
    # A team leader's monthly QA report stands for the Quality entry of their group.
    lead_bar = navigation.bar_for(_request(app, "/qa/reports/monthly"), Role.team_leader.value)
    assert [entry.key for entry in lead_bar if entry.current] == ["quality_and_reports"]
    # Home is current only on the home page, not everywhere under "/".
    assert [entry.key for entry in navigation.bar_for(_request(app, "/"), "admin") if entry.current] == ["home"]


def test_every_group_label_is_a_distinct_word() -> None:
    labels = [group.label for group in navigation.GROUPS]
    item_labels = {item.label for item in navigation.NAV}
    assert len(set(labels)) == len(labels)
    # A group named like one of its pages reads as a link to that page.
    assert not set(labels) & item_labels


# The rendered bar ----------------------------------------------------------------------------


@dataclass
class Link:
    href: str
    text: str
    current: str | None


@dataclass
class Group:
    label: str
    current: str | None
    links: list[Link] = field(default_factory=list)


class _NavReader(HTMLParser):
    """The main navigation's entries in order: top-level links and groups (the summary's words
    and aria-current, and the links inside)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Link | Group] = []
        self.in_nav = False
        self.group: Group | None = None
        self.text: list[str] | None = None
        self.pending: tuple[str, dict[str, str | None]] | None = None
        self.details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "nav" and values.get("class") == "mainnav":
            self.in_nav = True
        if not self.in_nav:
            return
        if tag == "details":
            self.details += 1
            self.group = Group("", None)
            self.entries.append(self.group)
        elif tag in ("summary", "a"):
            self.pending, self.text = (tag, values), []

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self.in_nav:
            return
        if tag == "nav":
            self.in_nav = False
        elif tag == "details":
            self.group = None
        elif self.pending and tag == self.pending[0]:
            words, values = "".join(self.text or []).strip(), self.pending[1]
            if tag == "summary" and self.group is not None:
                self.group.label, self.group.current = words, values.get("aria-current")
            elif tag == "a":
                link = Link(values.get("href") or "", words, values.get("aria-current"))
                (self.group.links if self.group is not None else self.entries).append(link)  # type: ignore[arg-type]
            self.pending = self.text = None


def _bar(html: str) -> list[Link | Group]:
    found = re.search(r'<nav class="mainnav".*?</nav>', html, re.S)
    assert found, "the page has a main navigation"
    reader = _NavReader()
    reader.feed(found.group(0))
    return reader.entries


def _links(bar: list[Link | Group]) -> list[Link]:
    return [link for entry in bar for link in (entry.links if isinstance(entry, Group) else [entry])]


def test_an_admins_bar_is_four_groups_after_home_and_floor(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin))
    bar = _bar(client.get("/", headers={"Accept-Language": "en"}).text)
    assert [(e.label if isinstance(e, Group) else e.text) for e in bar] == [
        "Home", "Floor", "Calls and customers", "Shifts and duty", "Quality and reports", "Settings"]
    groups = {e.label: [link.text for link in e.links] for e in bar if isinstance(e, Group)}
    assert groups == {
        "Calls and customers": ["Calls", "Tickets", "Customers", "Callback authorisations"],
        "Shifts and duty": ["Shifts and leave", "Rosters", "Roll call and handover", "Notices"],
        "Quality and reports": ["Quality", "Reports"],
        "Settings": ["Administration", "API tokens"],
    }
    assert {link.href for link in _links(bar)} == FLAT_BAR[Role.admin]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_still_reaches_every_page_of_the_flat_bar(client: TestClient, session: Session,
                                                             role: Role) -> None:
    signed_in_client(client, make_user(session, role=role))
    bar = _bar(client.get("/").text)
    assert {link.href for link in _links(bar)} == FLAT_BAR[role]
    assert all(len(entry.links) >= 2 for entry in bar if isinstance(entry, Group))


def test_the_agents_bar_is_short(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.agent)
    bar = _bar(client.get("/", headers={"Accept-Language": "en"}).text)
    assert [(e.label if isinstance(e, Group) else e.text) for e in bar] == [
        "Home", "Desktop", "Calls and customers", "Shifts and duty", "My evaluations", "API tokens"]


def test_the_current_page_is_marked_and_so_is_its_group(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.supervisor)
    page = client.get("/notices", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    bar = _bar(page.text)
    assert [link.href for link in _links(bar) if link.current] == ["/notices"]
    assert next(link for link in _links(bar) if link.href == "/notices").current == "page"
    marked = [entry.label for entry in bar if isinstance(entry, Group) and entry.current]
    assert marked == ["Shifts and duty"]
    assert next(e for e in bar if isinstance(e, Group) and e.label == "Shifts and duty").current == "true"
    # On a top-level page no group is marked.
    home = _bar(client.get("/").text)
    assert [link.href for link in _links(home) if link.current] == ["/"]
    assert not [entry for entry in home if isinstance(entry, Group) and entry.current]


def test_a_page_alone_of_its_group_is_marked_at_the_top_level(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.qa)
    bar = _bar(client.get("/notices").text)
    notices = next(entry for entry in bar if isinstance(entry, Link) and entry.href == "/notices")
    assert notices.current == "page"
    assert not [entry for entry in bar if isinstance(entry, Group) and entry.current]


def test_group_names_are_in_chinese_for_a_chinese_reader(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin))
    bar = _bar(client.get("/", headers={"Accept-Language": "zh-CN"}).text)
    assert [entry.label for entry in bar if isinstance(entry, Group)] == ["通话与客户", "排班与值班", "质检与报表", "设置"]


def test_the_groups_work_without_script_and_within_the_security_policy(client: TestClient,
                                                                       session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin))
    page = client.get("/")
    nav = re.search(r'<nav class="mainnav".*?</nav>', page.text, re.S)
    assert nav
    # Disclosure without JavaScript: <details>/<summary>; no inline handlers or styles.
    assert nav.group(0).count("<details") == 4 and nav.group(0).count("<summary") == 4
    assert not re.search(r"\son\w+=|\sstyle=|<script", nav.group(0))
    assert '<script src="/static/js/nav.js" defer></script>' in page.text
    script = client.get("/static/js/nav.js")
    assert script.status_code == 200 and "Escape" in script.text
