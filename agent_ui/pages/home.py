"""The home page: the signed-in person's shell with a welcome panel for their role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui import navigation
from agent_ui.templating import render
from core.auth import CurrentUser

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(request: Request, user: CurrentUser) -> Response:
    return render(request, "home.html", {"duties": navigation.duties_for(user.role)})
