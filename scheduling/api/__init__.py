"""Scheduling's JSON API, mounted once by hotline.app (`_routers`)."""

from fastapi import APIRouter

from scheduling.api import floor, planning, requests

router = APIRouter(prefix="/api/scheduling", tags=["scheduling"])
router.include_router(planning.router)
router.include_router(floor.router)
router.include_router(requests.router)

__all__ = ["router"]
