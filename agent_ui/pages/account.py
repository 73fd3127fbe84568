"""A person's own account: personal API tokens for scripts, each shown once at creation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_ui.templating import is_htmx, render
from core import clock, credentials
from core.auth import ClientIP, CurrentUser, DbSession
from core.errors import ValidationFailed

router = APIRouter()

EXPIRY_CHOICES = (30, 90, 365, 0)  # days; 0 = never


def _page(request: Request, session: DbSession, user: CurrentUser, *, status_code: int = 200,
          **extra: object) -> Response:
    tokens = credentials.list_api_tokens(session, user_id=user.id, include_revoked=True)
    context = {"tokens": tokens, "expiry_choices": EXPIRY_CHOICES, "now": clock.now(), **extra}
    block = "tokens_panel" if is_htmx(request) else None
    return render(request, "account/tokens.html", context, status_code=status_code, block=block)


@router.get("/account/tokens", include_in_schema=False)
def tokens_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    return _page(request, session, user)


@router.post("/account/tokens", include_in_schema=False)
def create_token(request: Request, session: DbSession, user: CurrentUser, ip: ClientIP,
                 name: Annotated[str, Form()] = "", expires_in_days: Annotated[int, Form()] = 90) -> Response:
    # Answered with the page itself, not a redirect: the new token is shown this once and is
    # never stored anywhere (not even in a flash cookie) to survive a redirect.
    if expires_in_days not in EXPIRY_CHOICES:
        expires_in_days = 90
    expires_at = clock.now() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        token, raw = credentials.create_api_token(session, user_id=user.id, name=name, expires_at=expires_at,
                                                  by=user, source_ip=ip)
    except ValidationFailed as exc:
        return _page(request, session, user, status_code=422, error_field=exc.field, form_name=name)
    return _page(request, session, user, status_code=201, new_token=raw, new_token_name=token.name)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_token(request: Request, session: DbSession, user: CurrentUser, ip: ClientIP, token_id: int) -> Response:
    credentials.revoke_api_token(session, token_id=token_id, by=user, source_ip=ip)
    if is_htmx(request):
        return _page(request, session, user)
    return RedirectResponse("/account/tokens", status_code=303)
