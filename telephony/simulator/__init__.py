"""The carrier simulator: plays Twilio for the demo and the tests with the same webhooks,
signatures, status sequences and REST API, so the hub runs its production code path."""

from telephony.simulator.carrier import Phone, Simulator
from telephony.simulator.registry import build, get_simulator, install_simulator
from telephony.simulator.twiml import TwimlError

__all__ = ["Phone", "Simulator", "TwimlError", "build", "get_simulator", "install_simulator"]
