"""What replies and summaries cost: per conversation, and per person per UTC day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, Summary
from tests.factories import ConversationFactory, MessageFactory

USAGE = "/api/usage/"
ZERO = {
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cost_usd": None,
    "replies": 0,
    "summaries": 0,
}


def reply_on(
    conversation: Conversation, when: datetime, *, cost: str | None = None, **tokens: int
) -> Message:
    question = MessageFactory(conversation=conversation, role="user", text="q")
    reply = MessageFactory(
        conversation=conversation,
        parent=question,
        role="assistant",
        text="a",
        cost_usd=Decimal(cost) if cost is not None else None,
        **tokens,
    )
    # created_at is set by the database on insert: move it afterwards.
    Message.objects.filter(pk__in=[question.pk, reply.pk]).update(created_at=when, finished_at=when)
    return reply


def summary_on(conversation: Conversation, when: datetime, *, cost: str, **tokens: int) -> Summary:
    covered = MessageFactory(conversation=conversation, role="user", text="old")
    summary = Summary.objects.create(
        conversation=conversation,
        covers_up_to=covered,
        text="s",
        cost_usd=Decimal(cost),
        **tokens,
    )
    Summary.objects.filter(pk=summary.pk).update(created_at=when)
    return summary


def day_of(body: dict, day: str) -> dict:
    (entry,) = [d for d in body["days"] if d["date"] == day]
    return {k: v for k, v in entry.items() if k != "date"}


# --- one conversation ---------------------------------------------------------------------------
def test_a_conversations_usage_has_its_own_endpoint(api, conversation, other_user):
    when = timezone.now()
    reply_on(conversation, when, cost="0.001500", input_tokens=100, output_tokens=10)
    summary_on(conversation, when, cost="0.000250", input_tokens=7, output_tokens=3)
    response = api.get(f"/api/conversations/{conversation.uuid}/usage/")
    assert response.status_code == 200
    assert response.json() == {
        "input_tokens": 107,
        "output_tokens": 13,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": "0.001750",
    }
    # Identical to the figures in the conversation itself.
    assert api.get(f"/api/conversations/{conversation.uuid}/").json()["usage"] == response.json()


# --- per day ------------------------------------------------------------------------------------
def test_usage_per_day_counts_replies_and_summaries_on_their_utc_day(api, user, other_user):
    first, second = ConversationFactory(owner=user), ConversationFactory(owner=user)
    monday = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    tuesday_late = datetime(2025, 6, 3, 23, 59, tzinfo=UTC)
    tokens = {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 50,
    }
    reply_on(first, monday, cost="0.001000", **tokens)
    reply_on(second, monday, cost="0.002000", **tokens)
    reply_on(first, tuesday_late, cost="0.000500", **tokens)
    summary_on(first, tuesday_late, cost="0.000250", input_tokens=7, output_tokens=3)
    # A reply that failed before any call: counted, costing nothing.
    reply_on(second, tuesday_late)
    # Just after midnight UTC: the next day, outside the range.
    reply_on(first, datetime(2025, 6, 4, 0, 0, 1, tzinfo=UTC), cost="9", **tokens)
    # Someone else's.
    reply_on(ConversationFactory(owner=other_user), monday, cost="9", **tokens)

    response = api.get(USAGE, {"start": "2025-06-01", "end": "2025-06-03"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"]) == ("2025-06-01", "2025-06-03")
    assert [d["date"] for d in body["days"]] == ["2025-06-01", "2025-06-02", "2025-06-03"]
    assert day_of(body, "2025-06-01") == ZERO
    assert day_of(body, "2025-06-02") == {
        "input_tokens": 200,
        "output_tokens": 40,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 100,
        "cost_usd": "0.003000",
        "replies": 2,
        "summaries": 0,
    }
    assert day_of(body, "2025-06-03") == {
        "input_tokens": 107,
        "output_tokens": 23,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 50,
        "cost_usd": "0.000750",
        "replies": 2,
        "summaries": 1,
    }
    assert body["total"] == {
        "input_tokens": 307,
        "output_tokens": 63,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 150,
        "cost_usd": "0.003750",
        "replies": 4,
        "summaries": 1,
    }


def test_days_are_utc_whatever_the_servers_time_zone(api, user, settings):
    settings.TIME_ZONE = "America/New_York"
    # 22:00 in New York on the 2nd is the 3rd in UTC.
    reply_on(
        ConversationFactory(owner=user),
        datetime(2025, 6, 3, 2, 0, tzinfo=UTC),
        cost="0.000100",
        input_tokens=1,
    )
    body = api.get(USAGE, {"start": "2025-06-02", "end": "2025-06-03"}).json()
    assert day_of(body, "2025-06-02")["replies"] == 0
    assert day_of(body, "2025-06-03")["replies"] == 1


def test_by_default_the_last_thirty_days_up_to_today(api, user):
    reply_on(ConversationFactory(owner=user), timezone.now(), cost="0.000100", input_tokens=5)
    reply_on(
        ConversationFactory(owner=user),
        timezone.now() - timedelta(days=40),
        cost="1",
        input_tokens=1000,
    )
    body = api.get(USAGE).json()
    today = datetime.now(UTC).date()
    assert body["end"] == today.isoformat()
    assert body["start"] == (today - timedelta(days=29)).isoformat()
    assert len(body["days"]) == 30
    assert body["total"]["input_tokens"] == 5
    assert body["total"]["cost_usd"] == "0.000100"
    # Only an end: the thirty days before it.
    body = api.get(USAGE, {"end": "2025-01-31"}).json()
    assert (body["start"], len(body["days"])) == ("2025-01-02", 30)


def test_a_quiet_range_is_all_zeros_with_no_cost(api, user):
    body = api.get(USAGE, {"start": "2025-01-01", "end": "2025-01-01"}).json()
    assert body["days"] == [{"date": "2025-01-01", **ZERO}]
    assert body["total"] == ZERO


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "2025-02-30"}, "start"),
        ({"end": "2025-06-01T00:00:00Z"}, "end"),
        ({"start": "2025-06-02", "end": "2025-06-01"}, "start"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "end"),  # 367 days
        ({"start": "0001-01-01", "end": "9999-12-31"}, "end"),
        ({"start": "9999-12-31", "end": "9999-12-31"}, "end"),
        ({"start": "2025-01-01", "until": "2025-01-02"}, "until"),
    ],
)
def test_bad_dates_and_long_ranges_are_a_400_naming_the_field(api, user, params, field):
    response = api.get(USAGE, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_a_range_of_a_whole_leap_year_is_allowed(api, user):
    body = api.get(USAGE, {"start": "2024-01-01", "end": "2024-12-31"}).json()
    assert len(body["days"]) == 366
    assert body["days"][-1]["date"] == "2024-12-31"


@pytest.mark.parametrize("replies", [1, 20])
def test_usage_costs_two_queries_however_many_replies(
    api, user, replies, django_assert_max_num_queries
):
    conversation = ConversationFactory(owner=user)
    for n in range(replies):
        reply_on(conversation, datetime(2025, 6, 1 + n % 5, tzinfo=UTC), cost="0.1", input_tokens=1)
    # One aggregate over the replies, one over the summaries.
    with django_assert_max_num_queries(2):
        body = api.get(USAGE, {"start": "2025-06-01", "end": "2025-06-30"}).json()
    assert body["total"]["replies"] == replies


def test_usage_is_for_logged_in_people_only_and_another_persons_is_a_404(db, other_user):
    theirs = ConversationFactory(owner=other_user)
    reply_on(theirs, timezone.now(), cost="1", input_tokens=1)
    anonymous = APIClient()
    for url in (USAGE, f"/api/conversations/{theirs.uuid}/usage/"):
        response = anonymous.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    from tests.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory())
    response = client.get(f"/api/conversations/{theirs.uuid}/usage/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such conversation."
    assert client.get(USAGE).json()["total"]["replies"] == 0


def test_an_end_in_the_first_days_of_year_one_is_refused_not_a_crash(api):
    response = api.get("/api/usage/?end=0001-01-15")
    assert response.status_code == 400
    assert "end" in response.json()["error"]["fields"]
