"""Hooks between packages, connected once per process by the composition root (the web app, the
worker and the command line alike), so that no rule depends on which modules a process imported."""

from __future__ import annotations

from core import backup, keyring, listening
from qa.access import handed_for_qa
from scheduling import notices
from telephony import bridge, offers, presence, routing
from telephony import erasure as call_erasure
from telephony.calls import move_to_ticket
from telephony.models import Call
from tickets import customer_keys, erasure, repeat_calls
from tickets.access import handed_voicemail


def wire() -> None:
    """Connect every hook (safe to call again)."""
    # Who may hear a recording: an inspector one that sampling or calibration handed them; the
    # person a voicemail's ticket is assigned to, that voicemail.
    listening.also_handed_by(handed_for_qa)
    listening.also_handed_by(handed_voicemail)
    # A repeat call attached to the customer's open ticket: telephony's call follows it.
    repeat_calls.on_call_moved(move_to_ticket)
    # Each customer's data key seals their rows, and the numbers of their calls.
    customer_keys.wire()
    keyring.register(Call, call_erasure.call_key)
    # Erasing a customer reaches their calls and recordings.
    erasure.also_erase_with(call_erasure.forget_customer)
    # A backup seals the call log's numbers first; a restore applies the erasures made since.
    backup.before_backup(call_erasure.seal_call_numbers)
    backup.after_restore(erasure.reapply_after_restore)
    # Going available: every notice acknowledged first.
    notices.register_presence_check()
    # An offered call opens the caller's card to the agent it rings.
    offers.also_on_offer(bridge.open_offer_access)
    # An agent's own presence change reaches the router (which sits above presence).
    presence.connect_router(withdraw_offer=routing.withdraw_agent_offer, route=routing.route)
