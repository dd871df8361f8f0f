"""The chat page's sidebar: the person's conversations in date groups (pure functions + one query).

Grouped on the server so the list arrives grouped (no reflow when the scripts load) and the
rule lives in one tested place. Each item also carries its own date group, so sidebar.js can
move a conversation between "Pinned" and its date group without asking the server again.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dates import MONTHS

from conversations.models import Conversation
from conversations.selectors import conversation_list_for_user

# theme-init.js stores the browser's IANA time zone here; until it does, the server's is used.
TIME_ZONE_COOKIE = "chatsite_tz"

PINNED = ("pinned", "Pinned")


@dataclass(frozen=True)
class SidebarItem:
    conversation: Conversation
    date_key: str  # the group it belongs to when not pinned
    date_label: str


@dataclass
class SidebarGroup:
    key: str
    label: str
    items: list[SidebarItem] = field(default_factory=list)


def sidebar_date_group(*, day: date, today: date) -> tuple[str, str]:
    """(key, label) of the group for something last active on `day`, seen on `today`."""
    age = (today - day).days
    if age <= 0:  # a clock a little ahead still reads as today
        return "today", "Today"
    if age == 1:
        return "yesterday", "Yesterday"
    if age <= 7:
        return "previous-7", "Previous 7 days"
    if age <= 30:
        return "previous-30", "Previous 30 days"
    return f"{day.year:04d}-{day.month:02d}", f"{MONTHS[day.month]} {day.year}"


def sidebar_group_conversations(
    *, conversations: Iterable[Conversation], now: datetime, tz: tzinfo
) -> list[SidebarGroup]:
    """Pinned first, then by date group, in the order given (newest first from the selector).

    Groups appear in the order of their first conversation: with the list sorted by
    `updated_at`, that is newest group first, and a group never appears twice.
    """
    today = now.astimezone(tz).date()
    pinned = SidebarGroup(*PINNED)
    dated: dict[str, SidebarGroup] = {}
    for conversation in conversations:
        key, label = sidebar_date_group(
            day=conversation.updated_at.astimezone(tz).date(), today=today
        )
        item = SidebarItem(conversation=conversation, date_key=key, date_label=label)
        if conversation.is_pinned:
            pinned.items.append(item)
        else:
            dated.setdefault(key, SidebarGroup(key, label)).items.append(item)
    return ([pinned] if pinned.items else []) + list(dated.values())


@functools.cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def sidebar_time_zone(*, request: HttpRequest) -> tzinfo:
    """The person's time zone as their browser reported it, else the server's current one.

    The cookie is the person's own input: only a name from the IANA database is used (never
    a path ZoneInfo would try to open), anything else is ignored.
    """
    name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    if name and len(name) <= 64 and name in _known_time_zones():
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_current_timezone()


def sidebar_groups_for_user(
    *, user: User | AnonymousUser, archived: bool, tz: tzinfo, now: datetime | None = None
) -> list[SidebarGroup]:
    """One query: the person's conversations (or only the archived ones), grouped."""
    conversations = conversation_list_for_user(user=user, include_archived=archived)
    if archived:
        conversations = conversations.filter(is_archived=True)
    return sidebar_group_conversations(
        conversations=conversations, now=now or timezone.now(), tz=tz
    )
