"""Full-text search over a person's own conversations: the selector, the index and the API.

Runs on whichever database the suite runs on (SQLite with FTS5 by default, PostgreSQL with
DATABASE_URL); a few tests look at one database's index directly.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.pagination import PageNumberPagination

from conversations.models import Conversation, Message
from conversations.services.conversations import conversation_delete
from conversations.services.search import (
    ConversationSearchHit,
    SearchQueryError,
    conversation_search,
    conversation_search_count,
    search_terms,
    segments_from_marked,
)
from conversations.services.search_index import (
    MESSAGES,
    TITLES,
    search_index_after_migrate,
    sqlite_index_ready,
)
from tests.factories import ConversationFactory, MessageFactory, UserFactory, chain

pytestmark = pytest.mark.django_db

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 index")
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's GIN index"
)

HOSTILE = [
    '"',
    '""',
    '"""',
    "*",
    "a*",
    "NEAR(",
    "NEAR(a b)",
    "a OR",
    "OR",
    "AND NOT",
    "-x",
    "col:",
    "text:near",
    "^start",
    "(a",
    "a)",
    '"unbalanced',
    "un\"balanced'",
    "{text}: a",
    "'; DROP TABLE conversations_message; --",
    "%",
    "_",
    "%_%",
    "\\",
    "a\x00b",
    "\x02marker\x03",
    "\u202eevil\u202c",
    "&|!<->:*",
    "a <-> b",
    "🦊",
    "  ",
    "",
]


def search(user, query: str, **options) -> list[ConversationSearchHit]:
    return conversation_search(user=user, query=query, **options)


def found(user, query: str, **options) -> list[str]:
    """The titles of what `query` finds, best first."""
    return [hit.title for hit in search(user, query, **options)]


def marked(hit: ConversationSearchHit) -> list[str]:
    return [segment["text"] for segment in hit.snippet if segment["match"]]


def snippet_text(hit: ConversationSearchHit) -> str:
    return "".join(segment["text"] for segment in hit.snippet)


# --- what is found ---------------------------------------------------------------------------
def test_it_finds_titles_and_both_sides_of_a_conversation(user):
    chain(ConversationFactory(owner=user, title="Paella"), ("user", "How long to soak rice?"))
    chain(ConversationFactory(owner=user, title="Birds"), ("assistant", "Herons wade in rice"))
    chain(ConversationFactory(owner=user, title="Trains"), ("user", "timetables"))

    assert sorted(found(user, "rice")) == ["Birds", "Paella"]
    assert found(user, "herons") == ["Birds"]
    assert found(user, "trains") == ["Trains"]
    assert found(user, "submarine") == []


def test_every_word_is_required_and_quotes_make_a_phrase(user):
    chain(ConversationFactory(owner=user, title="A"), ("user", "green tea with lemon"))
    chain(ConversationFactory(owner=user, title="B"), ("user", "lemon cake, green icing"))

    assert sorted(found(user, "green lemon")) == ["A", "B"]
    assert found(user, "tea lemon") == ["A"]
    assert found(user, '"green tea"') == ["A"]
    assert found(user, '"lemon green"') == []


def test_the_last_word_matches_as_typed_so_far(user):
    chain(ConversationFactory(owner=user, title="Snakes"), ("user", "a python in the garden"))

    assert found(user, "pyth") == ["Snakes"]
    assert found(user, "garden pyt") == ["Snakes"]
    # Only the last word: earlier ones are complete words.
    assert found(user, "pyth garden") == []


def test_messages_of_every_branch_are_searched(user):
    conversation = ConversationFactory(owner=user, title="Branches")
    first, _reply = chain(conversation, ("user", "original question"), ("assistant", "answer"))
    # An edit: a sibling of the first message on a new branch, which becomes the active one.
    chain(conversation, ("user", "edited question"))
    MessageFactory(conversation=conversation, parent=first, role="assistant", text="zebra")

    assert found(user, "original") == ["Branches"]
    assert found(user, "zebra") == ["Branches"]


def test_one_result_per_conversation_with_its_best_message_and_how_many_matched(user):
    conversation = ConversationFactory(owner=user, title="Soup")
    chain(
        conversation,
        ("user", "I have one tomato: what could I cook with it for dinner tonight?"),
        ("assistant", "A tomato soup needs ripe tomato, tomato paste and more tomato."),
        ("user", "and basil?"),
        ("assistant", "Basil, yes; tomato too, of course, and a long list of other things."),
    )

    [hit] = search(user, "tomato")
    assert hit.match_count == 3
    assert hit.role == "assistant"
    best = Message.objects.get(uuid=hit.message_uuid)
    assert best.text.startswith("A tomato soup")
    assert hit.conversation_uuid == conversation.uuid
    assert hit.is_archived is False
    assert hit.updated_at == conversation.updated_at


def test_title_matches_come_first_then_the_best_ranked_messages(user):
    chain(ConversationFactory(owner=user, title="Many words"), ("user", "walrus " + "x " * 200))
    chain(ConversationFactory(owner=user, title="Dense"), ("user", "walrus walrus walrus"))
    chain(ConversationFactory(owner=user, title="All about the walrus"), ("user", "tusks"))

    assert found(user, "walrus") == ["All about the walrus", "Dense", "Many words"]


def test_a_title_only_match_has_the_title_as_its_snippet(user):
    chain(ConversationFactory(owner=user, title="Holiday in Lisbon"), ("user", "flights"))

    [hit] = search(user, "lisbon")
    assert hit.message_uuid is None
    assert hit.role is None
    assert hit.match_count == 0
    assert snippet_text(hit) == "Holiday in Lisbon"
    assert marked(hit) == ["Lisbon"]


def test_snippets_are_segments_with_the_matching_words_marked(user):
    words = " ".join(f"filler{n}" for n in range(100))
    text = f"{words} the Quokka smiles; quokkas live on Rottnest. {words}"
    chain(ConversationFactory(owner=user, title="Animals"), ("assistant", text))

    [hit] = search(user, '"quokka"')
    assert marked(hit) == ["Quokka"]
    assert all(set(segment) == {"text", "match"} for segment in hit.snippet)
    passage = snippet_text(hit).strip("… ")
    # A passage of the text around the match, not the whole 200-word message.
    assert "Quokka smiles" in passage
    assert len(passage) < len(text) / 2
    assert passage.replace(" …", "") in text


def test_text_that_looks_like_markup_or_markers_stays_plain_text(user):
    text = "<b>bold</b> <script>alert(1)</script> \x02fake\x03 mark and the needle"
    chain(ConversationFactory(owner=user, title="Markup"), ("user", text))

    [hit] = search(user, "needle")
    assert marked(hit) == ["needle"]
    joined = snippet_text(hit)
    assert "<script>alert(1)</script>" in joined
    assert "\x02" not in joined
    assert "\x03" not in joined
    assert "fake mark" in joined


def test_segments_are_split_only_at_our_markers():
    assert segments_from_marked("a \x02b\x03 c\n\n d \x02e\x03") == [
        {"text": "a ", "match": False},
        {"text": "b", "match": True},
        {"text": " c d ", "match": False},
        {"text": "e", "match": True},
    ]


# --- whose conversations ---------------------------------------------------------------------
def test_other_peoples_conversations_are_never_found(user, other_user):
    chain(ConversationFactory(owner=other_user, title="Secret plans"), ("user", "secret"))
    chain(ConversationFactory(owner=user, title="Mine"), ("user", "not that"))

    assert found(user, "secret") == []
    assert found(user, "plans") == []
    assert conversation_search_count(user=user, query="secret") == 0
    assert found(other_user, "secret") == ["Secret plans"]


def test_nobody_logged_in_finds_nothing(user):
    from django.contrib.auth.models import AnonymousUser

    chain(ConversationFactory(owner=user, title="Hello"), ("user", "hello"))
    assert search(AnonymousUser(), "hello") == []


def test_archived_conversations_are_found_unless_left_out(user):
    chain(ConversationFactory(owner=user, title="Old", is_archived=True), ("user", "fjord"))
    chain(ConversationFactory(owner=user, title="New fjord"), ("user", "hi"))

    assert sorted(found(user, "fjord")) == ["New fjord", "Old"]
    assert [hit.is_archived for hit in search(user, "old")] == [True]
    assert found(user, "fjord", include_archived=False) == ["New fjord"]
    assert conversation_search_count(user=user, query="fjord", include_archived=False) == 1


# --- the index follows the data -------------------------------------------------------------
def test_a_deleted_conversation_leaves_the_index(user):
    doomed = ConversationFactory(owner=user, title="Doomed narwhal")
    messages = chain(doomed, ("user", "narwhal tusk"), ("assistant", "narwhal facts"))
    chain(ConversationFactory(owner=user, title="Kept"), ("user", "narwhal kept"))

    conversation_delete(conversation=doomed)

    assert found(user, "narwhal") == ["Kept"]
    assert found(user, "doomed") == []
    if connection.vendor == "sqlite":
        gone = {MESSAGES: [m.pk for m in messages], TITLES: [doomed.pk]}
        with connection.cursor() as cursor:
            for source, ids in gone.items():
                marks = ",".join("%s" for _ in ids)
                cursor.execute(f"SELECT COUNT(*) FROM {source.fts} WHERE rowid IN ({marks})", ids)
                assert cursor.fetchone() == (0,)


def test_edited_text_and_titles_are_found_by_their_new_words_only(user):
    conversation = ConversationFactory(owner=user, title="Draft title")
    [message] = chain(conversation, ("assistant", "first words"))

    message.text = "second thoughts"
    message.save(update_fields=["text"])
    Message.objects.filter(pk=message.pk).update(text="third time lucky")
    conversation.title = "Final title"
    conversation.save()

    assert found(user, "first") == []
    assert found(user, "second") == []
    assert found(user, "lucky") == ["Final title"]
    assert found(user, "draft") == []
    assert found(user, "final") == ["Final title"]


def test_a_streaming_reply_is_found_as_it_grows_and_other_saves_leave_it(user):
    conversation = ConversationFactory(owner=user, title="Stream")
    [reply] = chain(conversation, ("assistant", ""), status=Message.Status.STREAMING)
    for text in ("The", "The answer", "The answer is forty-two"):
        Message.objects.filter(pk=reply.pk).update(text=text)
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.COMPLETE)

    [hit] = search(user, "forty")
    assert hit.message_uuid == reply.uuid
    assert hit.match_count == 1


# --- hostile and unusual queries -------------------------------------------------------------
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_searched_as_text(user, query):
    chain(ConversationFactory(owner=user, title="Anything"), ("user", "all sorts of words"))

    hits = search(user, query)
    assert conversation_search_count(user=user, query=query) == len(hits)


def test_operators_and_wildcards_are_only_words(user):
    chain(ConversationFactory(owner=user, title="Near"), ("user", "the near side"))
    chain(ConversationFactory(owner=user, title="Or"), ("user", "a cat or a dog"))
    chain(ConversationFactory(owner=user, title="X"), ("user", "x marks the spot"))
    chain(ConversationFactory(owner=user, title="Col"), ("user", "col du Tourmalet"))

    assert found(user, "NEAR(") == ["Near"]
    assert found(user, "a OR") == ["Or"]
    assert found(user, "-x") == ["X"]
    assert found(user, "col:") == ["Col"]
    assert found(user, '"the near') == ["Near"]


def test_like_wildcards_match_nothing_by_themselves(user):
    chain(ConversationFactory(owner=user, title="Percent"), ("user", "100% sure, snake_case"))

    assert found(user, "%") == []
    assert found(user, "_") == []
    assert found(user, "100%") == ["Percent"]
    assert found(user, "snake_case") == ["Percent"]


def test_a_query_longer_than_the_limit_is_refused(user):
    with pytest.raises(SearchQueryError):
        search(user, "a" * 10_000)


def test_control_and_bidi_characters_in_the_query_are_ignored(user):
    chain(ConversationFactory(owner=user, title="RTL"), ("user", "שלום עולם and مرحبا"))

    assert found(user, "\u202eשלום\u202c") == ["RTL"]
    assert found(user, "מרחבא") == []
    assert found(user, "مرحبا\x00") == ["RTL"]
    assert search_terms("a\x00b") == search_terms("a b")


def test_accents_and_case_are_folded(user):
    chain(ConversationFactory(owner=user, title="Café"), ("user", "Crème brûlée in Ελληνικά"))

    assert found(user, "cafe") == ["Café"]
    assert found(user, "CAFÉ") == ["Café"]
    assert found(user, "creme BRULEE") == ["Café"]
    # Case in every script; accents of other scripts only on PostgreSQL (docs/search.md).
    assert found(user, "ΕΛΛΗΝΙΚΆ") == ["Café"]
    [hit] = search(user, "brulee")
    assert marked(hit) == ["brûlée"]


def test_emoji_and_other_planes_do_not_disturb_snippets(user):
    chain(ConversationFactory(owner=user, title="Emoji"), ("user", "🦊 fox 𓀀 hieroglyph 😀"))

    [hit] = search(user, "hieroglyph")
    assert marked(hit) == ["hieroglyph"]
    assert "🦊" in snippet_text(hit)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=60))
def test_no_query_at_all_breaks_the_search(user, query):
    search(user, query)
    conversation_search_count(user=user, query=query)


# --- cost -------------------------------------------------------------------------------------
def test_a_search_is_one_query_however_many_match(user, django_assert_num_queries):
    def make(count: int) -> None:
        for n in range(count):
            chain(ConversationFactory(owner=user, title=f"Otter {n}"), ("user", "otter"))

    make(1)
    search(user, "otter")  # SQLite: the first search checks that the index exists
    with django_assert_num_queries(1):
        assert len(search(user, "otter")) == 1
    make(15)
    # The page: hits, ranking and snippets in one statement; the count: one more.
    with django_assert_num_queries(1):
        assert len(search(user, "otter", limit=10, offset=5)) == 10
    with django_assert_num_queries(1):
        assert conversation_search_count(user=user, query="otter") == 16


# --- the indexes themselves -------------------------------------------------------------------
@on_postgresql
def test_postgresql_searches_through_the_gin_indexes(user):
    # Enough rows, with statistics, that reading everything the person owns costs more.
    conversations = Conversation.objects.bulk_create(
        Conversation(owner=user, title=f"Filler {n}", model="claude-sonnet-4-6") for n in range(400)
    )
    Message.objects.bulk_create(
        Message(conversation=conversations[n % 400], role="user", text=f"filler words {n}")
        for n in range(4000)
    )
    chain(conversations[0], ("user", "a heron"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("ANALYZE conversations_message")
    with CaptureQueriesContext(connection) as queries:
        assert len(search(user, "heron")) == 1
    [executed] = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + executed["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {MESSAGES.index}" in plan
    assert f"Bitmap Index Scan on {TITLES.index}" in plan


@on_sqlite
def test_sqlite_index_is_repaired_when_a_table_rebuild_dropped_its_triggers(user):
    conversation = ConversationFactory(owner=user, title="Remade")
    [message] = chain(conversation, ("user", "before the rebuild"))
    with connection.cursor() as cursor:
        # What a later migration's table remake does: the triggers go with the old table.
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in cursor.fetchall():
            if name.endswith(("_insert", "_update", "_delete")) and "_search_" in name:
                cursor.execute(f"DROP TRIGGER {name}")
    Message.objects.filter(pk=message.pk).update(text="after the rebuild")
    assert found(user, "after") == []

    search_index_after_migrate(using="default")

    assert found(user, "after") == ["Remade"]
    assert found(user, "before") == []
    chain(conversation, ("assistant", "triggers are back"))
    assert found(user, "triggers") == ["Remade"]


def test_the_fallback_without_an_index_finds_the_same_way(user, other_user, settings):
    settings.CHATSITE_SEARCH_BACKEND = "basic"
    chain(ConversationFactory(owner=user, title="Fallback"), ("user", "a needle, 100% sure"))
    chain(ConversationFactory(owner=user, title="Needle title"), ("user", "hay"))
    chain(ConversationFactory(owner=other_user, title="Theirs"), ("user", "needle"))

    assert found(user, "needle") == ["Needle title", "Fallback"]
    [title_hit, message_hit] = search(user, "needle")
    assert marked(message_hit) == ["needle"]
    assert message_hit.match_count == 1
    assert snippet_text(title_hit) == "Needle title"
    assert found(user, "%") == []
    assert found(user, "_") == []
    assert conversation_search_count(user=user, query="needle") == 2


def test_the_fallback_costs_a_constant_number_of_queries(user, settings, django_assert_num_queries):
    settings.CHATSITE_SEARCH_BACKEND = "basic"
    for n in range(12):
        chain(ConversationFactory(owner=user, title=f"T{n}"), ("user", f"needle {n}"))
    # The matches, their conversations, their messages.
    with django_assert_num_queries(3):
        assert len(search(user, "needle", limit=10)) == 10


def test_the_index_readiness_is_remembered(user, django_assert_num_queries):
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite looks for its index")
    sqlite_index_ready.cache_clear()
    with django_assert_num_queries(1):
        assert sqlite_index_ready(connection)
    with django_assert_num_queries(0):
        assert sqlite_index_ready(connection)


# --- the API ----------------------------------------------------------------------------------
def test_api_answers_a_page_of_results(api, user):
    conversation = ConversationFactory(owner=user, title="Gardening")
    [message] = chain(conversation, ("user", "When to plant tulips?"))

    response = api.get("/api/search/", {"q": "tulips"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["next"] is None
    [result] = body["results"]
    assert result == {
        "conversation_id": str(conversation.uuid),
        "title": "Gardening",
        "is_archived": False,
        "updated_at": result["updated_at"],
        "message_id": str(message.uuid),
        "role": "user",
        "snippet": [
            {"text": "When to plant ", "match": False},
            {"text": "tulips", "match": True},
            {"text": "?", "match": False},
        ],
        "match_count": 1,
    }


def test_api_pages_through_many_results(api, user, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(PageNumberPagination, "page_size", 5)
    for n in range(7):
        chain(ConversationFactory(owner=user, title=f"Moth {n}"), ("user", "moth"))

    first = api.get("/api/search/", {"q": "moth"}).json()
    # The count, then the page (SQLite: the index check was done by the first request).
    with django_assert_max_num_queries(2):
        second = api.get("/api/search/", {"q": "moth", "page": 2}).json()

    assert first["count"] == 7
    assert len(first["results"]) == 5
    assert len(second["results"]) == 2
    titles = {r["title"] for r in first["results"]} | {r["title"] for r in second["results"]}
    assert titles == {f"Moth {n}" for n in range(7)}


def test_api_leaves_out_archived_conversations_on_request(api, user):
    chain(ConversationFactory(owner=user, title="Kept moth", is_archived=True), ("user", "x"))

    assert api.get("/api/search/", {"q": "moth"}).json()["count"] == 1
    assert api.get("/api/search/", {"q": "moth", "archived": "false"}).json()["count"] == 0


def test_api_never_shows_another_persons_conversations(api, other_user):
    chain(ConversationFactory(owner=other_user, title="Private diary"), ("user", "diary"))

    assert api.get("/api/search/", {"q": "diary"}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "a" * 201}, {"q": "a" * 10_000}, {"q": "a\x00b"}],
    ids=["missing", "empty", "blank", "201", "10k", "nul"],
)
def test_api_refuses_an_empty_or_oversized_query(api, params):
    response = api.get("/api/search/", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["q"]


@pytest.mark.parametrize("query", HOSTILE[:-2])
def test_api_answers_hostile_queries(api, user, query):
    chain(ConversationFactory(owner=user, title="Anything"), ("user", "words"))

    response = api.get("/api/search/", {"q": query})

    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "\x00" in query


def test_api_needs_a_login(client):
    assert client.get("/api/search/", {"q": "x"}).status_code in (401, 403)


def test_api_schema_describes_the_search(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/search/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"q", "archived", "page"} <= names
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("PaginatedSearchResultList")


def test_a_person_with_no_conversations_finds_nothing(db):
    assert search(UserFactory(), "anything") == []


def test_a_very_long_message_is_stored_and_found_by_its_beginning(user):
    """PostgreSQL refuses a tsvector over 1 MB: only a text's start is indexed (SQLite keeps
    it all). A million characters of distinct words must still save."""
    words = " ".join(f"w{n}x{n * 7919 % 100003}" for n in range(80_000))
    conversation = ConversationFactory(owner=user, title="long")
    chain(conversation, ("user", "needle " + words), ("assistant", "ok"))
    assert len(words) > 900_000
    assert found(user, "needle") == ["long"]
