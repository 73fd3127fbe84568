"""The home page: the signed-in person's shell with their reminders and a welcome panel for their
role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_ui import i18n, navigation
from agent_ui.pages import reminders
from agent_ui.templating import render
from core.auth import CurrentUser, DbSession

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(request: Request, session: DbSession, user: CurrentUser) -> Response:
    return render(request, "home.html", {"duties": navigation.duties_for(user.role),
                                         "reminders": reminders.for_viewer(session, user,
                                                                           locale=i18n.locale_for(request))})
