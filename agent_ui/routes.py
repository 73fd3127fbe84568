"""Every page's route, gathered into one router that `mount_ui` includes."""

from __future__ import annotations

from fastapi import APIRouter

from agent_ui.pages import account, home, signin

router = APIRouter()
router.include_router(signin.router)
router.include_router(home.router)
router.include_router(account.router)
