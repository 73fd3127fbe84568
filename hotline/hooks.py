"""Hooks between packages, connected once per process by the composition root (the web app, the
worker and the command line alike), so that no rule depends on which modules a process imported."""

from __future__ import annotations

from core import listening
from qa.access import handed_for_qa
from telephony import presence, routing
from tickets.access import handed_voicemail


def wire() -> None:
    """Connect every hook (safe to call again)."""
    # Who may hear a recording: an inspector one that sampling or calibration handed them; the
    # person a voicemail's ticket is assigned to, that voicemail.
    listening.also_handed_by(handed_for_qa)
    listening.also_handed_by(handed_voicemail)
    # An agent's own presence change reaches the router (which sits above presence).
    presence.connect_router(withdraw_offer=routing.withdraw_agent_offer, route=routing.route)
