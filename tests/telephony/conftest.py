"""Fixtures shared by the telephony tests (the call hub's live in hub.py)."""

from tests.telephony.hub import eager_tasks, hub, sim  # noqa: F401
