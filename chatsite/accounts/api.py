"""REST endpoints for personal API tokens: /api/tokens/.

Only a signed-in browser session (with its CSRF check) may list, create or revoke tokens: a
leaked token must not be able to mint more tokens, or revoke the ones its owner relies on.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.accounts.models import ApiToken
from chatsite.accounts.selectors import api_token_list_for_user
from chatsite.accounts.tokens import (
    MAX_EXPIRY_DAYS,
    NAME_MAX_LENGTH,
    ApiTokenError,
    ApiTokenLimitError,
    api_token_create,
    api_token_revoke,
)

# OpenAPI security requirements for these views (the stubs type `auth` as names, but
# drf-spectacular puts the value into the schema as it is: requirement objects).
SESSION_ONLY: Any = [{"cookieAuth": []}]


class SessionOnly(BasePermission):
    message = (
        "API tokens are managed from a signed-in browser session (the settings page), "
        "not with an API token."
    )
    code = "session_required"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.successful_authenticator, SessionAuthentication)


class TokenLimitReached(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "too_many_tokens"


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    prefix = serializers.CharField(help_text="The token's first characters, to recognize it.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at"]


class ApiTokenCreateSerializer(serializers.Serializer[None]):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=MAX_EXPIRY_DAYS, required=False, allow_null=True, default=None
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The token itself: shown in this answer only.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class _SessionOnlyView(APIView):
    permission_classes = [IsAuthenticated, SessionOnly]

    def user(self, request: Request) -> User:
        return cast(User, request.user)  # IsAuthenticated let only a signed-in person through


class ApiTokenListCreateView(_SessionOnlyView):
    @extend_schema(responses=ApiTokenSerializer(many=True), auth=SESSION_ONLY)
    def get(self, request: Request) -> Response:
        """Your API tokens, newest first (never the tokens themselves)."""
        tokens = api_token_list_for_user(user=self.user(request))
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
        auth=SESSION_ONLY,
    )
    def post(self, request: Request) -> Response:
        """Create a token; the answer holds it in clear, this once."""
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token, key = api_token_create(
                user=self.user(request),
                name=serializer.validated_data["name"],
                expires_in_days=serializer.validated_data["expires_in_days"],
            )
        except ApiTokenLimitError as exc:
            raise TokenLimitReached(exc.message) from None
        except ApiTokenError as exc:
            raise exceptions.ValidationError(
                {exc.field or "non_field_errors": [exc.message]}
            ) from None
        body = {**ApiTokenSerializer(token).data, "token": key}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class ApiTokenDetailView(_SessionOnlyView):
    @extend_schema(responses={204: None}, auth=SESSION_ONLY)
    def delete(self, request: Request, token_id: int) -> Response:
        """Revoke a token: it stops working at once."""
        try:
            api_token_revoke(user=self.user(request), token_id=token_id)
        except ApiToken.DoesNotExist:
            # Someone else's token is answered exactly like a missing one.
            raise exceptions.NotFound("No such token.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
