"""The filters of the conversation list (django-filter, so the schema documents them).

Every value is checked: a filter that cannot be read is a 400 naming it, never silently
ignored (a typo in `pinned=ture` must not list everything).
"""

from __future__ import annotations

from typing import Any

import django_filters  # type: ignore[import-untyped]
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from conversations.models import Conversation

TRUE, FALSE = ("true", "1"), ("false", "0")
BOOLEAN_CHOICES = [(value, value) for value in (*TRUE, *FALSE)]
# `archived` keeps the meaning it had before the filters: true (or 1) *includes* archived
# conversations, as `GET /api/export/?archived=` does; `only` lists the archive alone.
ARCHIVED_CHOICES = [*BOOLEAN_CHOICES, ("only", "only")]
ARCHIVED_DEFAULT = "false"
# The id breaks ties, so a page boundary never shows a conversation twice or skips one.
TIE_BREAK = "-id"


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):  # type: ignore[misc]
    """true/false (or 1/0); anything else is refused (django-filter's own reads it as
    "no filter")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", BOOLEAN_CHOICES)
        super().__init__(coerce=lambda value: value in TRUE, **kwargs)


class TieBreakingOrderingFilter(django_filters.OrderingFilter):  # type: ignore[misc]
    def filter(self, qs: QuerySet[Conversation], value: Any) -> QuerySet[Conversation]:
        ordered: QuerySet[Conversation] = super().filter(qs, value)
        if value:
            ordered = ordered.order_by(*ordered.query.order_by, TIE_BREAK)
        return ordered


class ConversationFilter(django_filters.FilterSet):  # type: ignore[misc]
    archived = django_filters.ChoiceFilter(
        choices=ARCHIVED_CHOICES,
        method="filter_archived",
        help_text="false (default): active conversations; true: archived ones too; "
        "only: archived ones alone.",
    )
    pinned = StrictBooleanFilter(field_name="is_pinned", help_text="Only pinned (or unpinned).")
    model = django_filters.CharFilter(field_name="model", max_length=100)
    q = django_filters.CharFilter(
        field_name="title",
        lookup_expr="icontains",
        max_length=200,
        help_text="Text the title contains (any case). Full-text search: /api/search/.",
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="ISO 8601; a time without offset is in the server's time zone (UTC).",
    )
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")
    ordering = TieBreakingOrderingFilter(
        fields=("updated_at", "created_at", "title"),
        help_text="A field, `-` first for descending. Default: pinned first, then the most "
        "recently updated.",
    )

    class Meta:
        model = Conversation
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # Archived conversations stay out unless asked for, as in the sidebar.
        if data is not None and not data.get("archived"):
            data = data.copy()
            data["archived"] = ARCHIVED_DEFAULT
        super().__init__(data, *args, **kwargs)

    def filter_archived(
        self, queryset: QuerySet[Conversation], name: str, value: str
    ) -> QuerySet[Conversation]:
        if value == "only":
            return queryset.filter(is_archived=True)
        if value in TRUE:
            return queryset
        return queryset.filter(is_archived=False)
