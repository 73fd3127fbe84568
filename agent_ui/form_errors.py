"""Domain refusals turned into what a person reads next to the field: the field's name and a
message in the page's catalogue (the services speak English to the API; pages speak the
reader's language). Unknown refusals get a general sentence, never a stack trace."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agent_ui.i18n import N_
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed

STATE_NAMES = {
    "offline": N_("offline"), "available": N_("available"), "offered": N_("being offered a call"),
    "on_call": N_("on a call"), "wrap_up": N_("in wrap-up"), "break": N_("on a break"), "away": N_("away"),
}
GENERAL = N_("That could not be done. Reload the page and try again; if it keeps happening, tell your team leader.")


@dataclass(frozen=True)
class FormError:
    field: str  # the form field it belongs beside ("" for the form as a whole)
    message: str  # an English msgid, translated in the template
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    translate_params: tuple[str, ...] = ()  # params that are msgids themselves

    def text(self, gettext: Any) -> str:
        values = {k: gettext(v) if k in self.translate_params else v for k, v in self.params.items()}
        return gettext(self.message) % values if values else gettext(self.message)


# (exception code or class name, field) -> (form field, msgid). Field None matches any field.
_BY_CODE: dict[tuple[str, str | None], tuple[str, str]] = {
    ("not_ready_for_calls", None): ("state", N_("Read and acknowledge the notices below before taking calls.")),
    ("stale_version", None): ("version", N_("Someone else changed this ticket while you were writing. Reload it to "
                                            "see their change, then add yours again.")),
    ("offer_not_live", None): ("", N_("This call is no longer offered to you.")),
    ("invalid_transition", None): ("status", N_("The ticket cannot be resolved from its current status.")),
    ("grant_overlap", None): ("agent_id", N_("This agent already has a live authorisation for this customer; "
                                            "extend it instead.")),
    ("no_grant", None): ("", N_("You have no callback authorisation for this customer; ask a supervisor or your "
                                "team leader for one.")),
    ("grant_expired", None): ("", N_("Your callback authorisation for this customer has expired; ask for a new "
                                     "one.")),
    ("grant_revoked", None): ("", N_("Your callback authorisation for this customer was revoked.")),
    ("grant_not_grantor", None): ("agent_id", N_("Only the customer's site manager, a supervisor of the customer's "
                                                 "site or the center head can grant, extend or revoke this "
                                                 "authorisation.")),
    ("grant_self", None): ("agent_id", N_("Nobody authorises themselves; ask the site manager or a supervisor of the "
                                          "customer's site.")),
    ("grant_other_site", None): ("agent_id", N_("Choose someone who works at the customer's site.")),
    ("TicketNotFound", None): ("ticket_number", N_("There is no ticket with this number that you can see.")),
    ("callback_unavailable", None): ("", N_("The hub cannot dial this callback now; tell your team leader.")),
    ("invalid", "reason"): ("reason", N_("Say why (a short reason, up to 500 characters).")),
    ("invalid", "duration_minutes"): ("duration_minutes", N_("Choose a duration from the list.")),
    ("invalid", "agent_id"): ("agent_id", N_("Choose an agent from the list.")),
    ("invalid", "ticket_number"): ("ticket_number", N_("Type the number of the ticket the callback is about.")),
    ("invalid", "customer_id"): ("ticket_number", N_("This ticket has no known customer to call back.")),
    ("conflict", "customer_id"): ("ticket_number", N_("This customer was erased; nobody can be authorised to call "
                                                      "them.")),
    ("invalid", "category"): ("category", N_("Choose a category from the list.")),
    ("invalid", "resolution"): ("resolution", N_("Write how the matter was resolved.")),
    ("conflict", "status"): ("", N_("This ticket is closed; it can no longer be changed.")),
}

# Refusals known by their English message (services that raise a plain Conflict or NotFound).
_BY_MESSAGE: dict[str, tuple[str, str]] = {
    # A repeat call attached to an open ticket (tickets.repeat_calls).
    "Attach only to an open ticket of the same customer and category.": (
        "", N_("Attach the call only to an open ticket of the same customer and category.")),
    "Attach only to a ticket that is still open.": ("", N_("That ticket is no longer open.")),
    "Only a new ticket's calls are attached elsewhere; this one is being worked.": (
        "", N_("This ticket is already being worked, so its call stays on it.")),
    "Choose another ticket than this one.": ("", N_("Choose another ticket than this one.")),
    "Nothing is ringing for you.": ("", N_("Nothing is ringing for you any more.")),
    "The call stopped ringing.": ("", N_("The call stopped ringing.")),
    "You are not on a call.": ("", N_("You are not on a call.")),
    "A callback for this ticket is already under way.": ("", N_("A callback for this ticket is already under "
                                                                "way.")),
    "Finish your current call first, then call back.": ("", N_("Finish your current call first, then call "
                                                               "back.")),
    "This ticket has no customer to call back.": ("", N_("This ticket has no known customer to call back.")),
    "This authorisation was revoked; grant a new one instead.": ("", N_("This authorisation has ended; grant a new "
                                                                        "one instead.")),
    "This authorisation has expired; grant a new one instead.": ("", N_("This authorisation has ended; grant a new "
                                                                        "one instead.")),
    "This authorisation has already expired; there is nothing to revoke.": ("", N_("This authorisation has "
                                                                                   "already ended.")),
}


def _fields(exc: DomainError) -> list[str | None]:
    found: list[str | None] = []
    for error in getattr(exc, "errors", None) or []:
        loc = error.get("loc") or []
        found.append(str(loc[-1]) if loc else None)
    return found or [exc.field]


def describe(exc: DomainError) -> FormError:
    """The message to show for a refusal, and the field it belongs beside."""
    from telephony.presence import InvalidPresenceTransition

    if isinstance(exc, InvalidPresenceTransition):
        if exc.current == "on_call":
            return FormError("state", N_("You are on a call: change your presence once it ends."))
        if exc.target not in ("available", "break", "away", "offline"):
            return FormError("state", N_("That state is set by the router when calls arrive, not by hand."))
        return FormError("state", N_("You cannot go from %(current)s to %(target)s now."),
                         {"current": STATE_NAMES.get(exc.current, exc.current),
                          "target": STATE_NAMES.get(exc.target, exc.target)}, ("current", "target"))
    if type(exc).__name__ == "PresenceRefused":
        return FormError("state", N_("A call was just offered to you: answer or decline it, then change your "
                                     "presence."))
    if exc.message in _BY_MESSAGE:
        return FormError(*_BY_MESSAGE[exc.message])
    if "extensions included" in exc.message:
        from tickets.grants import max_window

        return FormError("duration_minutes", N_("An authorisation lasts at most %(hours)s hours in all, extensions "
                                                "included; choose a shorter duration or grant a new one later."),
                         {"hours": f"{max_window().total_seconds() / 3600:g}"})
    if "at most" in exc.message and "hours" in exc.message:
        from tickets.grants import max_window

        return FormError("duration_minutes", N_("An authorisation lasts at most %(hours)s hours."),
                         {"hours": f"{max_window().total_seconds() / 3600:g}"})
    if "runs longer than that" in exc.message:
        return FormError("duration_minutes", N_("The authorisation already runs longer than that; choose a longer "
                                                "duration."))
    for name in (exc.code, type(exc).__name__):
        for field_name in _fields(exc):
            if (name, field_name) in _BY_CODE:
                return FormError(*_BY_CODE[(name, field_name)])
        if (name, None) in _BY_CODE:
            return FormError(*_BY_CODE[(name, None)])
    if isinstance(exc, PermissionDenied):
        return FormError("", N_("Your role does not allow this."))
    if isinstance(exc, (NotFound, Conflict, ValidationFailed)):
        return FormError("", N_("This changed in the meantime, or is no longer there. Reload the page and try again."))
    return FormError("", GENERAL)
