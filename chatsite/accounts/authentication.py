"""`Authorization: Bearer <token>` (and `Token <token>`, the scheme the API documented first)."""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from chatsite.accounts.models import ApiToken
from chatsite.accounts.tokens import api_token_resolve

SCHEMES = (b"bearer", b"token")
INVALID = "Invalid, expired or revoked API token."


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in SCHEMES:
            return None  # not ours: another authenticator (the session) may apply
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be `Bearer <token>`, with no spaces in the token."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
        token = api_token_resolve(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed(INVALID)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # DRF answers 401 (not 403) only when the first authenticator names a scheme here.
        return 'Bearer realm="api"'
