"""Fixtures shared by the telephony tests (the call hub's live in hub.py)."""

from collections.abc import Iterator

import pytest

from telephony import cache
from tests.telephony.hub import eager_tasks, hub, sim  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_telephony_cache() -> Iterator[None]:
    """Each test has a database of its own; nothing remembered from another one applies."""
    cache.forget()
    yield
    cache.forget()
