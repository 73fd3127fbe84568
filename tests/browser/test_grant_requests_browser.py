"""An agent asks for a callback authorisation in Chromium, in English and in Chinese: from the
ticket, with a reason; the supervisor's floor shows it live, their reminder links to it, and they
grant it for an hour; the agent reads the outcome and sees the customer's details. A teammate asks from the customer's
masked card; the supervisor declines with a reason the teammate reads beside the card."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.agent_ui.desk import Desk, callback_ticket, desk
from tests.browser.conftest import Browsing, LiveServer
from tests.factories import cheap_password_hashing
from tickets.models.customers import CallbackGrantRequest

__all__ = ["cheap_password_hashing", "desk"]

WORDS = {
    "en-GB": {"asked": "asks for a callback authorisation", "granted": "Granted", "declined": "Declined",
              "answer": "Declined by Zhou Boss: Call only after the refund is booked.", "title": "Authorisation requests",
              "declined_card": "Your last request was declined by Zhou Boss",
              "why": "Say why you decline, so the agent knows what to do.",
              "waiting": "1 authorisation request waits for your answer"},
    "zh-CN": {"asked": "申请回访授权", "granted": "已授权", "declined": "已拒绝",
              "answer": "Zhou Boss 已拒绝：Call only after the refund is booked.", "title": "回访授权申请",
              "declined_card": "您上次的申请被 Zhou Boss 拒绝",
              "why": "请说明拒绝理由，让客服代表知道该怎么做。", "waiting": "1 项授权申请等待您答复"},
}


def _latest(session: Session, agent_id: int) -> CallbackGrantRequest:
    session.rollback()  # a fresh read of what the server committed
    found = session.scalars(select(CallbackGrantRequest).where(CallbackGrantRequest.agent_id == agent_id)
                            .order_by(CallbackGrantRequest.id.desc())).first()
    assert found is not None
    return found


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_an_agent_asks_and_the_supervisor_grants_or_declines(browsing: Browsing, live_server: LiveServer,
                                                             desk: Desk, session: Session, locale: str) -> None:
    words = WORDS[locale]
    ticket_id = callback_ticket(session, desk)

    boss = browsing.signed_in("boss", path="/floor", locale=locale)
    expect(boss.locator("#grants-panel")).to_be_visible()
    expect(boss.locator("#floor-waiting-requests")).to_have_count(0)

    agent = browsing.signed_in("agent-a", path=f"/tickets/{ticket_id}", locale=locale)
    agent.locator("#ask-grant-reason").fill("Promised to call about the refund")
    agent.locator("#ask-grant-submit").click()
    expect(agent.locator("#ask-grant-pending")).to_be_visible()
    asked = _latest(session, desk.agent.id)
    assert asked.status == "pending" and asked.ticket_id == ticket_id

    # The supervisor's floor hears of it at once; the reminder waits on their home page.
    expect(boss.locator("#floor-waiting-requests")).to_contain_text(words["waiting"])
    boss.goto("/")
    reminder = boss.locator("#reminders").get_by_role("link", name=words["asked"])
    expect(reminder).to_contain_text("An Agent")
    reminder.click()
    boss.wait_for_url(f"**/authorisations/requests#request-{asked.id}")
    expect(boss.locator("h1")).to_have_text(words["title"])
    item = boss.locator(f"#request-{asked.id}")
    expect(item.locator(".request-reason")).to_have_text("Promised to call about the refund")
    assert "138" not in item.inner_text()  # the customer appears masked, never their number
    boss.locator(f"#grant-duration-{asked.id}").select_option("60")
    boss.locator(f"#grant-request-{asked.id}").click()
    expect(boss.locator("#request-saved")).to_be_visible()
    expect(boss.locator(f"#request-{asked.id}")).to_have_count(0)

    agent.goto("/authorisations/requests")
    expect(agent.locator(f"#mine-{asked.id} .request-state")).to_have_text(words["granted"])
    agent.goto(f"/customers/{desk.customer.id}")
    expect(agent.locator("#customer-card")).to_contain_text("Wang Fang")
    expect(agent.locator("#customer-grant-countdown")).to_be_visible()
    expect(agent.locator("#ask-grant-live")).to_be_visible()

    # A teammate asks from the customer's masked card; the supervisor declines with a reason.
    mate = browsing.signed_in("agent-b", path=f"/customers/{desk.customer.id}", locale=locale)
    expect(mate.locator("#customer-card")).not_to_contain_text("Wang Fang")
    mate.locator("#ask-grant-reason").fill("The customer wants a callback tonight")
    mate.locator("#ask-grant-submit").click()
    expect(mate.locator("#ask-grant-pending")).to_be_visible()
    second = _latest(session, desk.teammate.id)

    boss.goto("/authorisations/requests")
    boss.locator(f"#decline-request-{second.id}").click()  # no reason: refused beside the field
    expect(boss.locator(f"#decline-reason-{second.id}")).to_have_attribute("aria-invalid", "true")
    expect(boss.locator(f"#decline-reason-{second.id}-error")).to_have_text(words["why"])
    browsing.errors[:] = [e for e in browsing.errors if "status of 422" not in e]  # the refusal is the point
    boss.locator(f"#decline-reason-{second.id}").fill("Call only after the refund is booked.")
    boss.locator(f"#decline-request-{second.id}").click()
    expect(boss.locator("#request-saved")).to_be_visible()

    mate.reload()
    expect(mate.locator("#ask-grant-declined")).to_contain_text(words["declined_card"])
    mate.goto("/authorisations/requests")
    row = mate.locator(f"#mine-{second.id}")
    expect(row.locator(".request-state")).to_have_text(words["declined"])
    expect(row.locator(".request-answer")).to_have_text(words["answer"])
    expect(mate.locator("#customer-card")).to_have_count(0)


REMINDED = {"en-GB": ("Reminders", "Your callback authorisation request was granted."),
            "zh-CN": ("提醒", "您的回访授权申请已获批准。")}


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_the_answer_reaches_the_agents_desktop_as_a_reminder_at_once(browsing: Browsing, live_server: LiveServer,
                                                                      desk: Desk, session: Session,
                                                                      locale: str) -> None:
    """The reminder of a supervisor's answer appeared on the agent's desktop only when it was
    loaded again; it arrives with the answer, in the agent's language, and goes when dismissed."""
    from tickets import grant_requests

    title, text = REMINDED[locale]
    asked = grant_requests.ask_for_ticket(session, ticket_id=callback_ticket(session, desk), by=desk.agent,
                                          reason="Promised to call about the refund")
    session.commit()
    agent = browsing.signed_in("agent-a", path="/desktop", locale=locale)
    agent.wait_for_selector("html[data-live='open']")
    expect(agent.locator("#reminders")).to_have_count(0)

    boss = browsing.signed_in("boss", path="/authorisations/requests", locale=locale)
    boss.locator(f"#grant-duration-{asked.id}").select_option("60")
    boss.locator(f"#grant-request-{asked.id}").click()
    expect(boss.locator("#request-saved")).to_be_visible()

    reminders = agent.locator("#reminders")
    expect(reminders.locator("h2")).to_have_text(title)
    expect(reminders.get_by_role("link", name=text)).to_have_attribute(
        "href", f"/authorisations/requests#mine-{asked.id}")
    reminders.locator(".reminder button").click()  # dismissed where it arrived
    expect(agent.locator(".reminder")).to_have_count(0)
    agent.reload()
    expect(agent.locator("#reminders")).to_have_count(0)
