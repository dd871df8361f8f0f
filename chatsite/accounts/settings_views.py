"""The settings page: personal API tokens, listed, created (shown once) and revoked.

A new token is rendered in the answer to the POST that created it, never stored for a later
page (django.contrib.messages may keep messages in a cookie): the answer is marked no-store,
and settings.js turns the history entry into a GET so a reload does not post again.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chatsite.accounts.forms import ApiTokenCreateForm
from chatsite.accounts.models import ApiToken
from chatsite.accounts.selectors import api_token_list_for_user
from chatsite.accounts.tokens import (
    ApiTokenError,
    api_token_create,
    api_token_revoke,
)


def _user(request: HttpRequest) -> User:
    # login_required lets only a signed-in person through.
    return cast(User, request.user)


def _render(
    request: HttpRequest,
    *,
    form: ApiTokenCreateForm | None = None,
    created: tuple[ApiToken, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Queries: 1 (the tokens), besides the session's."""
    context: dict[str, Any] = {
        "tokens": list(api_token_list_for_user(user=_user(request))),
        "form": form or ApiTokenCreateForm(),
        "created_token": created[0] if created else None,
        "created_key": created[1] if created else None,
        "max_tokens": settings.CHATSITE_MAX_API_TOKENS,
        "now": timezone.now(),
    }
    return render(request, "accounts/settings.html", context, status=status)


@require_GET
@never_cache
@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    return _render(request)


@require_POST
@never_cache  # the answer holds a token in clear: no cache may keep it
@login_required
def api_token_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiTokenCreateForm(request.POST)
    if form.is_valid():
        try:
            created = api_token_create(
                user=_user(request),
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except ApiTokenError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _render(request, created=created)
    return _render(request, form=form, status=400)


@require_POST
@login_required
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(user=_user(request), token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, f"Revoked the token “{token.name}”. It no longer works.")
    return redirect("account-settings")
