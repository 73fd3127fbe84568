"""Tags are what a hotline's staff type, in any script: trimmed, inner spaces collapsed, matched
without regard to case (casefold), at most 40 characters, control characters refused."""

from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from tests.tickets.factories_tickets import World, make_ticket, world  # noqa: F401
from tickets import service
from tickets.search import search
from tickets.tagging import MAX_TAG_LENGTH, clean_tags, tag_key


def test_tags_keep_what_was_typed_in_any_script() -> None:
    assert clean_tags(["  退款   申请 ", "Line down since Monday", "VIP", "vip", "Straße", "STRASSE"]) == [
        "退款 申请", "Line down since Monday", "VIP", "Straße"]
    assert clean_tags(["refund_request"]) == ["refund_request"]  # stored codes stay readable
    assert tag_key("Straße") == tag_key("STRASSE") and tag_key(" 退款  申请") == "退款 申请"
    assert clean_tags(["长" * MAX_TAG_LENGTH]) == ["长" * MAX_TAG_LENGTH]


@pytest.mark.parametrize("bad", ["", "   ", "line\x00down", "tab\there", "bell\x07", "长" * (MAX_TAG_LENGTH + 1)])
def test_bad_tags_are_refused_naming_the_tag(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        clean_tags([bad])
    assert refused.value.params["tag"] == bad and refused.value.field == "tags"


def test_chinese_tags_are_stored_and_found_in_search_whatever_the_case(session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent, tags=["退款 申请", "Straße"])
    assert service.tags_of(session, ticket_id=ticket.id) == sorted(["退款 申请", "Straße"])
    assert [t.number for t in search(session, viewer=world.agent, tag=" 退款  申请 ").items] == [ticket.number]
    assert [t.number for t in search(session, viewer=world.agent, tag="STRASSE").items] == [ticket.number]
    assert search(session, viewer=world.agent, tag="退款").items == []
