"""`hotline.app.settle_heap`: once the app has started, what the start built is moved out of the
garbage collector's sight, so a full collection under load walks only what requests made."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

from hotline import app as app_module


@pytest.fixture
def unsettled(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    gc.unfreeze()
    monkeypatch.setattr(app_module, "_heap_settled", False)
    yield
    gc.freeze()  # as the process was: settled once


def test_starting_the_app_freezes_what_the_start_built(unsettled, app) -> None:  # type: ignore[no-untyped-def]
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        # The modules, mappers, routes and templates of the whole hub: far more than any request makes.
        assert frozen > 100_000
        assert sum(len(gc.get_objects(generation)) for generation in range(3)) < frozen / 10
        assert client.get("/healthz").status_code == 200
    from hotline.models import load_all

    assert not load_all().registry._new_mappers  # configured before the freeze, not on the first request


def test_the_heap_is_settled_once_per_process(unsettled, app) -> None:  # type: ignore[no-untyped-def]
    app_module.settle_heap()
    frozen = gc.get_freeze_count()
    made_since = [["made after the first start"]]  # a later start must leave it to the collector
    with TestClient(app):
        pass
    app_module.settle_heap()
    assert gc.get_freeze_count() <= frozen  # nothing more frozen (frozen objects can still be freed)
    assert any(item is made_since for item in gc.get_objects())
