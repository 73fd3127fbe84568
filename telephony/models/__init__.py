"""Telephony tables: calls, their webhook log, recordings and IVR settings (calls.py), and the
router's presence, queue and offers (routing.py), in-call controls and callbacks (controls.py)."""

from telephony.models.calls import *  # noqa: F403
from telephony.models.controls import *  # noqa: F403
from telephony.models.routing import *  # noqa: F403
