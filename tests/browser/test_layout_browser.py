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
