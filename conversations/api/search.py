"""GET /api/search/?q=: full-text search over the person's own conversations (paginated)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.models import Message
from conversations.services.search import (
    SEARCH_QUERY_MAX_CHARS,
    ConversationSearchResults,
    SearchQueryError,
)


class SnippetSegmentSerializer(serializers.Serializer[Any]):
    text = serializers.CharField()
    match = serializers.BooleanField(help_text="True for a part that matched the search.")


class SearchResultSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.UUIDField(source="conversation_uuid")
    title = serializers.CharField()
    is_archived = serializers.BooleanField()
    updated_at = serializers.DateTimeField()
    message_id = serializers.UUIDField(
        source="message_uuid",
        allow_null=True,
        help_text="The best-matching message (of any branch); null when only the title matched.",
    )
    role = serializers.ChoiceField(choices=Message.Role.choices, allow_null=True)
    snippet = SnippetSegmentSerializer(
        many=True,
        help_text="The matching passage (or the title) in parts; render each part as text, "
        "the matching ones highlighted. Never HTML.",
    )
    match_count = serializers.IntegerField(help_text="How many messages matched (0: the title).")


class SearchParametersSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(max_length=SEARCH_QUERY_MAX_CHARS)
    archived = serializers.BooleanField(default=True)


class ConversationSearchView(generics.GenericAPIView[Any]):
    serializer_class = SearchResultSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                required=True,
                description=f"Words to find (1 to {SEARCH_QUERY_MAX_CHARS} characters), all "
                'required; "quoted words" as a phrase; the last word also as a prefix. '
                "Operators and wildcards are searched as text.",
            ),
            OpenApiParameter(
                "archived",
                OpenApiTypes.BOOL,
                default=True,
                description="Include archived conversations.",
            ),
        ],
        # Errors (400 for a bad `q`) are documented for every operation by api/schema.py.
        responses=SearchResultSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """Your conversations whose title or messages match, best first, one result each,
        50 a page.

        Queries: 2 (the count, the page)."""
        # A plain dict: from a QueryDict DRF would read a missing boolean as false.
        parameters = SearchParametersSerializer(data=request.query_params.dict())
        parameters.is_valid(raise_exception=True)
        try:
            results = ConversationSearchResults(
                user=request.user,
                query=parameters.validated_data["q"],
                include_archived=parameters.validated_data["archived"],
            )
        except SearchQueryError as error:
            raise serializers.ValidationError({"q": [str(error)]}) from None
        page = self.paginate_queryset(results)  # type: ignore[arg-type]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
