"""Imports every package's tables so the metadata is complete, for Alembic and the tests."""

from __future__ import annotations

import importlib

from core.db import Base

# Modules that define tables, in dependency order. A package adds its models module here.
MODEL_MODULES = (
    "core.models",
    "core.keyring",
    "core.audit",
    "core.tunables",
    "core.worker",
    "core.jobs",
    "tickets.models",
    "telephony.models",
    "qa.models",
    "scheduling.models",
)


def load_all() -> type[Base]:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base
