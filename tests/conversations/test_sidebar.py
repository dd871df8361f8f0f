"""The sidebar's date groups: the pure rule, the time zone it is read in, and the page."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from conversations.models import Conversation
from conversations.sidebar import (
    TIME_ZONE_COOKIE,
    sidebar_date_group,
    sidebar_group_conversations,
    sidebar_groups_for_user,
    sidebar_time_zone,
)
from tests.factories import ConversationFactory

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 21), ("today", "Today")),  # a clock a little ahead
        (TODAY, ("today", "Today")),
        (date(2026, 11, 19), ("yesterday", "Yesterday")),
        (date(2026, 11, 18), ("previous-7", "Previous 7 days")),
        (date(2026, 11, 13), ("previous-7", "Previous 7 days")),
        (date(2026, 11, 12), ("previous-30", "Previous 30 days")),
        (date(2026, 10, 21), ("previous-30", "Previous 30 days")),
        (date(2026, 10, 20), ("2026-10", "October 2026")),
        (date(2026, 10, 1), ("2026-10", "October 2026")),
        (date(2025, 12, 31), ("2025-12", "December 2025")),
    ],
)
def test_a_day_falls_in_its_group(day, expected):
    assert sidebar_date_group(day=day, today=TODAY) == expected


def _conversation(title: str, updated_at: datetime, *, pinned: bool = False) -> Conversation:
    # Unsaved: the grouping reads only these fields.
    return Conversation(title=title, updated_at=updated_at, is_pinned=pinned)


def test_pinned_come_first_then_groups_newest_first_in_the_given_order():
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    conversations = [
        _conversation("pinned old", now - timedelta(days=90), pinned=True),
        _conversation("this morning", now - timedelta(hours=6)),
        _conversation("last night", now - timedelta(hours=20)),
        _conversation("last week", now - timedelta(days=3)),
        _conversation("two months ago", now - timedelta(days=61)),
        _conversation("also two months ago", now - timedelta(days=62)),
        _conversation("a year ago", now - timedelta(days=365)),
    ]
    groups = sidebar_group_conversations(conversations=conversations, now=now, tz=UTC)

    assert [(g.label, [i.conversation.title for i in g.items]) for g in groups] == [
        ("Pinned", ["pinned old"]),
        ("Today", ["this morning"]),
        ("Yesterday", ["last night"]),
        ("Previous 7 days", ["last week"]),
        ("September 2026", ["two months ago", "also two months ago"]),
        ("November 2025", ["a year ago"]),
    ]
    # A pinned conversation still knows where it goes when unpinned.
    pinned = groups[0].items[0]
    assert (pinned.date_key, pinned.date_label) == ("2026-08", "August 2026")


def test_days_are_counted_in_the_given_time_zone():
    # 23:30 in Lisbon on the 19th is already the 20th in Tokyo.
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    late = _conversation("late", datetime(2026, 11, 19, 23, 30, tzinfo=UTC))
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    honolulu = zoneinfo.ZoneInfo("Pacific/Honolulu")

    def label(tz):
        return sidebar_group_conversations(conversations=[late], now=now, tz=tz)[0].label

    assert label(lisbon) == "Yesterday"
    assert label(tokyo) == "Today"
    assert label(honolulu) == "Today"  # 13:30 and 15:00 on the 19th


def test_no_conversations_make_no_groups():
    assert sidebar_group_conversations(conversations=[], now=timezone.now(), tz=UTC) == []


@pytest.mark.parametrize(
    "cookie",
    ["", "Not/AZone", "../../../../etc/passwd", "Europe/Lisbon\x00", "x" * 5000, "UTC; path=/"],
)
def test_an_unknown_or_hostile_time_zone_cookie_falls_back_to_the_servers(cookie, settings):
    settings.TIME_ZONE = "America/Chicago"
    request = RequestFactory().get("/")
    request.COOKIES[TIME_ZONE_COOKIE] = cookie
    with timezone.override(zoneinfo.ZoneInfo("America/Chicago")):
        assert str(sidebar_time_zone(request=request)) == "America/Chicago"


def test_the_browsers_time_zone_is_used_when_it_is_a_real_one():
    request = RequestFactory().get("/")
    request.COOKIES[TIME_ZONE_COOKIE] = "Asia/Kolkata"
    assert sidebar_time_zone(request=request) == zoneinfo.ZoneInfo("Asia/Kolkata")


@pytest.mark.django_db
def test_the_archived_list_holds_only_archived_conversations(user, other_user):
    ConversationFactory(owner=user, title="live")
    ConversationFactory(owner=user, title="stored away", is_archived=True)
    ConversationFactory(owner=other_user, title="theirs", is_archived=True)

    def titles(archived):
        groups = sidebar_groups_for_user(user=user, archived=archived, tz=UTC)
        return [i.conversation.title for g in groups for i in g.items]

    assert titles(False) == ["live"]
    assert titles(True) == ["stored away"]


def _set_updated(conversation: Conversation, when: datetime) -> None:
    # auto_now would overwrite a saved value: update the row directly.
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=when)


@pytest.mark.django_db
def test_the_page_shows_the_groups_with_one_query_for_the_list(
    logged_in_client, user, django_assert_max_num_queries
):
    now = timezone.now()
    _set_updated(ConversationFactory(owner=user, title="Fresh"), now)
    _set_updated(ConversationFactory(owner=user, title="Older"), now - timedelta(days=10))
    pinned = ConversationFactory(owner=user, title="Kept on top", is_pinned=True)
    _set_updated(pinned, now - timedelta(days=200))
    ConversationFactory(owner=user, title="Put away", is_archived=True)
    # Queries: session, user, the sidebar list.
    with django_assert_max_num_queries(3):
        content = logged_in_client.get("/").content.decode()
    assert content.index(">Pinned<") < content.index(">Kept on top<")
    assert content.index(">Kept on top<") < content.index(">Today<") < content.index(">Fresh<")
    assert content.index(">Fresh<") < content.index(">Previous 30 days<")
    assert content.index(">Previous 30 days<") < content.index(">Older<")
    assert "Put away" not in content
    assert 'href="/?archived=1"' in content

    archived = logged_in_client.get("/?archived=1").content.decode()
    assert "Put away" in archived
    assert "Fresh" not in archived
    assert f'href="/c/{Conversation.objects.get(title="Put away").uuid}/?archived=1"' in archived


@pytest.mark.django_db
def test_a_hostile_archived_parameter_shows_the_usual_list(logged_in_client, user):
    ConversationFactory(owner=user, title="Visible")
    response = logged_in_client.get("/?archived=%00%27<script>")
    assert response.status_code == 200
    assert "Visible" in response.content.decode()
