"""Page layout in Chromium at 1280 x 800, in English and in Chinese: a card's heading sits at the
card's top (a card without the panel class had a blank band above its heading, heading margin
and card padding added up), cards one after another do not touch, and nothing overflows sideways."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.agent_ui.desk import Desk, desk
from tests.browser.conftest import Browsing
from tests.factories import cheap_password_hashing

__all__ = ["cheap_password_hashing", "desk"]

# For each card: how far its first heading starts below the card's top edge, and the gap to the
# card before it when the two are siblings.
MEASURE_CARDS = """() => [...document.querySelectorAll('main section.card')].map(card => {
  const box = card.getBoundingClientRect();
  const heading = card.querySelector(':scope > h2:first-child');
  const before = card.previousElementSibling;
  return {id: card.id || card.getAttribute('aria-labelledby'),
          heading: heading ? heading.getBoundingClientRect().top - box.top : null,
          gap: before && before.matches('section.card') ? box.top - before.getBoundingClientRect().bottom : null};
})"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_cards_sit_snugly_at_1280_by_800(browsing: Browsing, desk: Desk, session: Session, locale: str) -> None:
    page = browsing.signed_in("boss", path="/reports", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    for path in ("/reports", "/calls", "/tickets", "/customers"):
        page.goto(path)
        cards = page.evaluate(MEASURE_CARDS)
        assert cards, path
        for card in cards:
            if card["heading"] is not None:
                assert card["heading"] <= 26, (path, card)  # the card's padding (1.5 rem), no more
            if card["gap"] is not None:
                assert card["gap"] >= 8, (path, card)
        assert page.evaluate(OVERFLOW) <= 0, path


# Each text in the first cells of the desktop's ticket table: its words (split at spaces) and the
# lines it takes; and whether the table is wider than its panel.
MEASURE_TICKETS = """() => {
  const wrap = document.querySelector('#tickets-panel .table-wrap');
  const texts = [];
  for (const td of [...wrap.querySelectorAll('tbody td')].slice(0, 5)) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim();
      if (!text) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      texts.push({text, words: text.split(/\\s+/).length,
                  lines: new Set([...range.getClientRects()].map(r => Math.round(r.top))).size});
    }
  }
  return {texts, overflow: wrap.scrollWidth - wrap.clientWidth};
}"""


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_the_desktops_ticket_list_never_breaks_a_word(browsing: Browsing, desk: Desk, session: Session,
                                                      locale: str) -> None:
    """At 1280 px the agent's ticket list broke "新建" into 新 / 建 and "回拨请求" inside the word."""
    from tickets import service as ticket_service

    ticket_service.open_ticket(session, category="callback_request", by=desk.agent, customer_id=desk.customer.id)
    session.commit()
    page = browsing.signed_in("agent-a", path="/desktop", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_selector("#tickets-panel tbody tr")
    measured = page.evaluate(MEASURE_TICKETS)
    assert len(measured["texts"]) >= 5, measured
    for text in measured["texts"]:
        assert text["lines"] <= text["words"], measured
    assert measured["overflow"] <= 0, measured


# Every visible field of the page's forms: its kind and height.
MEASURE_FIELDS = """() => [...document.querySelectorAll(
    'main input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file]), main select')]
  .filter(el => el.offsetParent !== null)
  .map(el => ({field: el.id || el.name, type: el.type, height: el.getBoundingClientRect().height}))"""


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_every_kind_of_field_looks_alike(browsing: Browsing, desk: Desk, session: Session, locale: str) -> None:
    """Phone, date and month fields were left unstyled (a thin box beside the others in the
    ticket filters, the report's period, the shifts' forms)."""
    page = browsing.signed_in("boss", path="/tickets", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    for path in ("/tickets", "/reports", "/calls", "/shifts/rosters", "/qa/coverage", "/qa/reports/monthly",
                 "/reports/complaints", "/qa/training"):
        page.goto(path)
        fields = page.evaluate(MEASURE_FIELDS)
        assert fields, path
        for field in fields:
            assert field["height"] >= 39, (path, field)  # 2.5 rem, as a text field
    inspector = browsing.signed_in("qa1", path="/qa", locale=locale)  # a field without a type attribute
    inspector.set_viewport_size({"width": 1280, "height": 800})
    for field in inspector.evaluate(MEASURE_FIELDS):
        assert field["height"] >= 39, ("/qa", field)


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_ticket_number_stays_on_one_line(browsing: Browsing, desk: Desk, session: Session, locale: str) -> None:
    """The ticket list at 1280 px broke each number in two (HL-2026- / 000088)."""
    from tickets import service as ticket_service

    for category in ("callback_request", "complaint"):
        ticket_service.open_ticket(session, category=category, by=desk.agent, customer_id=desk.customer.id)
    session.commit()
    page = browsing.signed_in("boss", path="/tickets", locale=locale)
    page.set_viewport_size({"width": 1280, "height": 800})
    lines = page.eval_on_selector_all("main a.ticket-number", "links => links.map(a => a.getClientRects().length)")
    assert len(lines) >= 2 and set(lines) == {1}, lines
