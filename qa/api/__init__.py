"""QA's JSON API, mounted once by hotline.app (`_routers`). Routes declare the role
with a typed alias; object-level checks (whose team, who may hear, blind calibration) are in the
services, so pages calling the same services get them too."""

from fastapi import APIRouter

from qa.api import evaluations, planning, reports, scorecards

router = APIRouter(prefix="/api/qa", tags=["qa"])
router.include_router(scorecards.router)
router.include_router(evaluations.router)
router.include_router(planning.router)
router.include_router(reports.router)

__all__ = ["router"]
