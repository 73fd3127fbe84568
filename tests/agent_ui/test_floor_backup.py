"""The floor shows the last good backup: none yet, made but not verified, verified; in Chinese too."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core import backup
from tests.agent_ui.desk import Desk, desk
from tests.factories import cheap_password_hashing, signed_in_client

__all__ = ["cheap_password_hashing", "desk"]


def _status(client: TestClient, **headers: str) -> str:
    page = client.get("/floor", headers=headers)
    assert page.status_code == 200
    start = page.text.index('id="backup-status"')
    return page.text[start:page.text.index("</p>", start)]


def test_the_floor_shows_the_last_good_backup(client: TestClient, desk: Desk) -> None:
    signed_in_client(client, desk.supervisor)
    assert 'data-state="none"' in _status(client) and "hotline backup create" in _status(client)
    made = backup.create()
    assert "not verified yet" in _status(client)
    backup.verify(made.id)
    shown = _status(client)
    assert 'data-state="verified"' in shown and "Last good backup" in shown
    assert "最近一次可用备份" in _status(client, **{"Accept-Language": "zh-CN"})
