"""Every page's route, gathered into one router that `mount_ui` includes."""

from __future__ import annotations

from fastapi import APIRouter

from agent_ui.pages import (
    account,
    admin,
    calls,
    customers,
    desktop,
    floor,
    floor_records,
    grant_requests,
    grants,
    home,
    jobs,
    qa_reports,
    qa_scoring,
    reminders,
    reports,
    reports_customers,
    requests,
    roster,
    shift_templates,
    signin,
    tickets,
)

router = APIRouter()
router.include_router(signin.router)
router.include_router(home.router)
router.include_router(account.router)
router.include_router(desktop.router)
router.include_router(floor.router)
# The live pages' websocket (agent_ui.live) is mounted early by create_app.
router.include_router(tickets.router)
router.include_router(customers.router)
router.include_router(grant_requests.router)
router.include_router(grants.router)
router.include_router(roster.router)
router.include_router(shift_templates.router)
router.include_router(requests.router)
router.include_router(floor_records.router)
router.include_router(reminders.router)
router.include_router(qa_scoring.router)
router.include_router(qa_reports.router)
router.include_router(calls.router)
router.include_router(reports.router)
router.include_router(reports_customers.router)
router.include_router(admin.router)
router.include_router(jobs.router)
