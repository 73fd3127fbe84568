"""Pydantic models at the customers and grants API edge: XBase / XCreate / XUpdate / XPublic and
`{data, count}` lists. Field rules that need the database or the phone library live in the services."""

from __future__ import annotations

from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.limits import INT_MAX
from tickets import visibility

Tier = Literal["normal", "silver", "gold", "platinum", "diamond"]
Gender = Literal["female", "male", "other", "undisclosed"]
ConsentPurpose = Literal["service", "care_sms", "marketing"]
ConsentMethod = Literal["phone", "form", "web", "sms", "import"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PhoneIn(_In):
    number: str = Field(min_length=1, max_length=40, examples=["138 0013 8000"])
    is_primary: bool = False


class Preferences(_In):
    products: list[str] = Field(default_factory=list, max_length=20)
    call_times: list[str] = Field(default_factory=list, max_length=20)


class CustomerBase(_In):
    gender: Gender | None = None
    birthday: date | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    email: str | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=500)
    id_number: str | None = Field(default=None, max_length=40)
    preferences: Preferences | None = None
    special_needs: str | None = Field(default=None, max_length=1000)


class CustomerCreate(CustomerBase):
    name: str = Field(min_length=1, max_length=200)
    phones: list[PhoneIn] = Field(min_length=1, max_length=5)
    site_id: int | None = None  # defaults to the creator's site
    owning_agent_id: int | None = None  # defaults to the creator when an agent creates
    consent_purposes: list[ConsentPurpose] = Field(default_factory=lambda: list[ConsentPurpose](["service"]))
    consent_method: ConsentMethod
    consent_at: datetime | None = None


class CustomerUpdate(CustomerBase):
    """Only the fields sent are changed. `reason` is required unless the customer asked."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phones: list[PhoneIn] | None = Field(default=None, min_length=1, max_length=5)
    site_id: int | None = None
    owning_agent_id: int | None = None
    consent_purposes: list[ConsentPurpose] | None = None
    consent_method: ConsentMethod | None = None
    reason: str | None = Field(default=None, max_length=500)
    requested_by_customer: bool = False

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"reason", "requested_by_customer"})


class CustomerLookup(_In):
    """A phone lookup: the number travels in the body, never in an address (addresses end up in
    access logs, proxies and browser history)."""

    phone: str = Field(min_length=1, max_length=40, examples=["138 0013 8000"])


ErasureOverride = Literal["open_complaint", "unused_points"]


class CustomerErase(_In):
    """Erase at once (a legal request, or a notice already given): an open complaint or unused
    points refuse it (409, code `erasure_refused`) unless named in `overrides`."""

    reason: str = Field(min_length=1, max_length=500)
    requested_by_customer: bool = True
    overrides: list[ErasureOverride] = Field(default_factory=list)


class ErasureRequestCreate(_In):
    """A member's request to leave: told by SMS (with consent), erased after the notice period."""

    reason: str = Field(min_length=1, max_length=500)
    overrides: list[ErasureOverride] = Field(default_factory=list)


class ErasureRequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    requested_at: datetime
    due_at: datetime
    status: str
    notice_sent: bool
    overrides: list[str]


def _fields_of(card: type, *, leave_out: frozenset[str] = frozenset(),
               narrower: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields of a dataclass of `tickets.visibility` as pydantic fields: the card is declared
    once, there, and the API says what it holds (`narrower` types where the API promises more,
    such as the tier's names; `leave_out` what only a page shows)."""
    hints = get_type_hints(card)
    found: dict[str, Any] = {}
    for item in dataclass_fields(card):
        if item.name in leave_out:
            continue
        if item.default is not MISSING:
            default: Any = item.default
        elif item.default_factory is not MISSING:
            default = Field(default_factory=item.default_factory)
        else:
            default = ...
        found[item.name] = ((narrower or {}).get(item.name, hints[item.name]), default)
    return found


class PhonePublic(create_model("PhoneFields",  # type: ignore[misc]
                               **_fields_of(visibility.PhoneView, leave_out=frozenset({"masked"})))):
    """A phone number: masked (`+86 138****0000`) unless the card is full."""

    model_config = ConfigDict(from_attributes=True)


class CustomerPublic(create_model("CustomerCardFields",  # type: ignore[misc]
                                  **_fields_of(visibility.CustomerCard, leave_out=frozenset({"print_name"}),
                                               narrower={"tier": Tier, "phones": list[PhonePublic]}))):
    """A card: `masked` cards carry initials, masked numbers, tier and site only; `access` says
    why the details are shown (ownership, call, site or grant). Its fields are those of
    `tickets.visibility.CustomerCard`."""

    model_config = ConfigDict(from_attributes=True)


class CustomerAggregatesPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total: int
    by_tier: dict[str, int]
    by_site: dict[int, int]


class CustomersPublic(BaseModel):
    data: list[CustomerPublic]
    count: int


class QuietCustomerPublic(BaseModel):
    card: CustomerPublic
    last_contact_at: datetime | None


class QuietCustomersPublic(BaseModel):
    data: list[QuietCustomerPublic]
    count: int


class CustomerChangePublic(BaseModel):
    """One change of personal data: when, by whom, which fields and why (never the values)."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    changed_by_name: str | None
    fields: list[str]
    reason: str | None
    requested_by_customer: bool


class CustomerChangesPublic(BaseModel):
    data: list[CustomerChangePublic]
    count: int


class GrantBase(_In):
    customer_id: int
    agent_id: int
    reason: str = Field(min_length=1, max_length=500)
    ticket_id: int | None = None


class GrantCreate(GrantBase):
    duration_minutes: int | None = Field(default=None, ge=1, description="Default 120; at most 1440.")
    starts_at: datetime | None = None


class GrantExtend(_In):
    duration_minutes: int | None = Field(default=None, ge=1, description="From now; default 120, at most 1440.")


class GrantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    agent_id: int
    ticket_id: int | None
    reason: str
    granted_by_id: int | None
    granted_by_name: str
    starts_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by_name: str | None
    status: Literal["scheduled", "live", "expired", "revoked"]


class GrantsPublic(BaseModel):
    data: list[GrantPublic]
    count: int


class GrantRequestCreate(_In):
    customer_id: int
    reason: str = Field(min_length=1, max_length=500)
    ticket_id: int | None = None


class GrantRequestGrant(_In):
    duration_minutes: int | None = Field(default=None, ge=1, description="Default 120; at most 1440.")
    note: str = Field(default="", max_length=200)


class GrantRequestDecline(_In):
    reason: str = Field(min_length=1, max_length=500)


class GrantRequestPublic(BaseModel):
    id: int
    customer_id: int
    agent_id: int
    ticket_id: int | None
    reason: str | None
    status: Literal["pending", "expired", "granted", "declined", "withdrawn"]
    created_at: datetime
    expires_at: datetime
    decided_by_name: str | None
    decided_at: datetime | None
    decline_reason: str | None
    grant_id: int | None


class GrantRequestsPublic(BaseModel):
    mine: list[GrantRequestPublic]
    waiting_for_me: list[GrantRequestPublic]


# Purchases, points, tiers and follow-ups --------------------------------------------------


class PurchaseCreate(_In):
    """One purchase from the till or membership system; `source_id` is its own id, so sending
    the same purchase again adds nothing."""

    source_id: str = Field(min_length=1, max_length=80, examples=["till-7-000123"])
    amount_cents: int = Field(ge=0, le=INT_MAX, examples=[12550])  # one purchase: up to ~21 million yuan
    at: datetime | None = None


class PurchasePublic(BaseModel):
    customer_id: int
    source_id: str
    created: bool
    points: int
    tier: Tier
    spend_cents: int


class PurchaseRejectedRow(BaseModel):
    line: int
    field: str
    msg: str


class PurchaseImportPublic(BaseModel):
    added: int
    repeated: int
    rejected: list[PurchaseRejectedRow]


class PointsRedeem(_In):
    points: int = Field(ge=1, le=10**9)
    reason: str = Field(min_length=1, max_length=100)


class PointsPublic(BaseModel):
    customer_id: int
    points: int


class TierChangePublic(BaseModel):
    customer_id: int
    old: Tier
    new: Tier
    upgrade: bool


class TierPreviewPublic(BaseModel):
    data: list[TierChangePublic]
    count: int


class FollowUpComplete(_In):
    outcome: Literal["reached", "no_answer", "refused", "wrong_number"] = "reached"
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    note: str | None = Field(default=None, max_length=1000)


class FollowUpPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    ticket_id: int | None
    kind: str
    due_at: datetime
    status: str
    outcome: str | None
    satisfaction: int | None
    done_at: datetime | None


class FollowUpsPublic(BaseModel):
    data: list[FollowUpPublic]
    count: int
