"""One customer card type: the card is declared once (`tickets.visibility.CustomerCard`), and
the API's schema is derived from it, so a field added to the card is in the API the same day."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tickets import visibility
from tickets.schemas_customers import CustomerPublic, PhonePublic, _fields_of


def test_the_api_card_has_exactly_the_fields_of_the_card() -> None:
    card = [f.name for f in fields(visibility.CustomerCard) if f.name != "print_name"]
    assert list(CustomerPublic.model_fields) == card
    assert list(PhonePublic.model_fields) == [f.name for f in fields(visibility.PhoneView) if f.name != "masked"]


def test_a_field_added_to_a_card_reaches_the_schema_with_its_default() -> None:
    @dataclass(frozen=True)
    class Card:
        id: int
        nickname: str | None = None
        tags: list[str] = field(default_factory=list)

    derived = _fields_of(Card)
    assert set(derived) == {"id", "nickname", "tags"}
    assert derived["id"] == (int, ...) and derived["nickname"] == (str | None, None)
    assert derived["tags"][1].default_factory is list


def test_a_card_becomes_the_api_body_unchanged() -> None:
    phone = visibility.PhoneView(number="+86 138****0000", is_primary=True, masked="+86 138****0000")
    card = visibility.CustomerCard(id=7, masked=True, access=None, display_name="Z.", phones=[phone], tier="gold",
                                   site_id=1, owning_agent_id=None, print_name="Z.")
    body = CustomerPublic.model_validate(card).model_dump()
    assert body["phones"] == [{"number": "+86 138****0000", "is_primary": True}]
    assert "print_name" not in body and body["tier"] == "gold" and body["consent_purposes"] == []
