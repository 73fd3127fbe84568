"""Fixtures of the composition root's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.databases import scratch_database
from tests.conftest import PG_URL


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with scratch_database(PG_URL, "hotline_mig") as url:
        yield url
