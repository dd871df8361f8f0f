"""Personal API tokens: the services, the Bearer/Token authentication, /api/tokens/, the command
and the import of DRF authtoken keys."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from chatsite.accounts.models import ApiToken
from chatsite.accounts.tokens import (
    ApiTokenError,
    ApiTokenLimitError,
    api_token_authenticate,
    api_token_create,
    api_token_resolve,
    api_token_revoke,
)
from conversations.models import Conversation
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def bearer(key: str, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def assert_refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert error["message"]


# --- creation -------------------------------------------------------------------------------


def test_creating_a_token_returns_it_once_and_stores_only_its_hash(user):
    token, key = api_token_create(user=user, name="backup script")
    assert key.startswith("chs_")
    assert len(key) == 47
    stored = ApiToken.objects.get()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert stored.prefix == key[:12]
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(key in str(value) for value in row.values())
    assert api_token_authenticate(key=key) == user


def test_each_token_is_different(user):
    keys = {api_token_create(user=user, name=f"t{i}")[1] for i in range(5)}
    assert len(keys) == 5


def test_names_are_cleaned_of_control_characters(user):
    token, _ = api_token_create(user=user, name="  backup\x00\tscript\u202e\r\n\x1b[31m ")
    assert token.name == "backup script [31m"


@pytest.mark.parametrize("name", ["", "   ", "\x00\x07\u202e", "x" * 101])
def test_a_missing_or_overlong_name_is_refused(user, name):
    with pytest.raises(ApiTokenError) as raised:
        api_token_create(user=user, name=name)
    assert raised.value.field == "name"
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_an_expiry_out_of_range_is_refused(user, days):
    with pytest.raises(ApiTokenError) as raised:
        api_token_create(user=user, name="t", expires_in_days=days)
    assert raised.value.field == "expires_in_days"


def test_a_token_with_an_expiry_stops_working_then(user):
    token, key = api_token_create(user=user, name="t", expires_in_days=30)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert api_token_authenticate(key=key) == user
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_token_authenticate(key=key) is None


def test_the_per_person_cap_refuses_one_token_too_many(user, other_user, settings):
    settings.CHATSITE_MAX_API_TOKENS = 2
    api_token_create(user=user, name="one")
    expired, _ = api_token_create(user=user, name="two")
    with pytest.raises(ApiTokenLimitError, match="most allowed"):
        api_token_create(user=user, name="three")
    assert ApiToken.objects.filter(user=user).count() == 2
    api_token_create(user=other_user, name="theirs")  # the cap is per person
    # An expired token no longer counts.
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    api_token_create(user=user, name="three")


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_bearer_and_token_schemes_authenticate_against_the_api(user, other_user, scheme):
    ConversationFactory(owner=user)
    ConversationFactory(owner=other_user)
    _, key = api_token_create(user=user, name="t")
    response = bearer(key, scheme).get("/api/conversations/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    "header",
    [
        "Bearer chs_unknownunknownunknownunknownunknownunknown0",
        "Bearer",
        "Token",
        "Bearer  x y",
        "Bearer chs_caf\u00e9",
        "Bearer " + "a" * 10_240,
        "Bearer \x7f",
    ],
    ids=["unknown", "no-token", "no-token-token", "spaces", "non-ascii", "10kb", "control"],
)
def test_malformed_or_unknown_tokens_get_401_with_the_error_shape(user, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_refused(client.get("/api/conversations/"))


def test_a_revoked_token_gets_401(user):
    token, key = api_token_create(user=user, name="t")
    api_token_revoke(user=user, token_id=token.pk)
    assert_refused(bearer(key).get("/api/conversations/"))


def test_an_expired_token_gets_401(user):
    _, key = api_token_create(user=user, name="t", expires_in_days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert_refused(bearer(key).get("/api/conversations/"))


def test_a_deactivated_persons_token_gets_401(user):
    _, key = api_token_create(user=user, name="t")
    user.is_active = False
    user.save()
    assert_refused(bearer(key).get("/api/conversations/"))


def test_without_credentials_the_401_names_the_bearer_scheme(db):
    response = APIClient().get("/api/conversations/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_last_used_is_written_at_most_once_per_minute(user):
    token, key = api_token_create(user=user, name="t")
    assert token.last_used_at is None

    def updates() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api_token_resolve(key=key) is not None
        return sum(q["sql"].lstrip().upper().startswith("UPDATE") for q in queries)

    assert updates() == 1
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    assert [updates() for _ in range(3)] == [0, 0, 0]
    assert ApiToken.objects.get().last_used_at == first
    # A minute later, the next use is recorded again.
    ApiToken.objects.update(last_used_at=first - timedelta(seconds=61))
    assert updates() == 1
    assert ApiToken.objects.get().last_used_at > first


def test_authenticating_a_request_costs_one_query_when_last_used_is_fresh(
    user, django_assert_num_queries
):
    _, key = api_token_create(user=user, name="t")
    assert api_token_resolve(key=key) is not None  # records the first use
    with django_assert_num_queries(1):  # the token joined with its user
        assert api_token_resolve(key=key) is not None


# --- /api/tokens/ ---------------------------------------------------------------------------


def session_api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_a_session_creates_lists_and_revokes_tokens_through_the_api(user):
    client = session_api(user)
    response = client.post("/api/tokens/", {"name": "ci", "expires_in_days": 90}, format="json")
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    created = response.json()
    key = created["token"]
    assert created["name"] == "ci"
    assert created["prefix"] == key[:12]
    assert bearer(key).get("/api/conversations/").status_code == 200

    listed = client.get("/api/tokens/").json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    assert client.delete(f"/api/tokens/{created['id']}/").status_code == 204
    assert not ApiToken.objects.exists()
    assert_refused(bearer(key).get("/api/conversations/"))


def test_the_api_refuses_a_bad_name_or_expiry_with_the_field_named(user):
    client = session_api(user)
    for body, field in [
        ({"name": "\x00\u202e"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "t", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "t", "expires_in_days": "soon"}, "expires_in_days"),
    ]:
        response = client.post("/api/tokens/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], body
    assert not ApiToken.objects.exists()


def test_the_api_answers_409_past_the_cap(user, settings):
    settings.CHATSITE_MAX_API_TOKENS = 1
    api_token_create(user=user, name="only")
    response = session_api(user).post("/api/tokens/", {"name": "more"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_tokens"
    assert ApiToken.objects.count() == 1


def test_another_persons_token_can_be_neither_listed_nor_revoked(user, other_user):
    theirs, their_key = api_token_create(user=other_user, name="theirs")
    mine, _ = api_token_create(user=user, name="mine")
    client = session_api(user)
    assert [t["name"] for t in client.get("/api/tokens/").json()] == ["mine"]
    response = client.delete(f"/api/tokens/{theirs.pk}/")
    missing = client.delete(f"/api/tokens/{theirs.pk + mine.pk + 1000}/")
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    assert client.delete(f"/api/tokens/{'9' * 30}/").status_code == 404
    assert api_token_authenticate(key=their_key) == other_user
    with pytest.raises(ApiToken.DoesNotExist):
        api_token_revoke(user=user, token_id=theirs.pk)


def test_token_authenticated_requests_cannot_manage_tokens(user):
    token, key = api_token_create(user=user, name="leaked")
    client = bearer(key)
    for response in [
        client.post("/api/tokens/", {"name": "more"}, format="json"),
        client.get("/api/tokens/"),
        client.delete(f"/api/tokens/{token.pk}/"),
    ]:
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "session_required"
        assert "session" in error["message"]
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["leaked"]


def test_a_token_wins_over_a_session_cookie_so_it_still_cannot_manage_tokens(user):
    _, key = api_token_create(user=user, name="leaked")
    client = session_api(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/api/tokens/", {"name": "more"}, format="json").status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_session_post_without_the_csrf_token_is_refused(user):
    token, _ = api_token_create(user=user, name="keep")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/api/tokens/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/tokens/{token.pk}/").status_code == 403
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["keep"]


def test_the_schema_documents_the_bearer_scheme_and_session_only_token_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert {"bearerAuth": []} in schema["paths"]["/api/conversations/"]["get"]["security"]
    assert schema["paths"]["/api/tokens/"]["post"]["security"] == [{"cookieAuth": []}]


# --- the management command -----------------------------------------------------------------


def test_the_command_prints_a_new_working_token(user, capsys):
    call_command("create_api_token", user.username, "--name", "cron", "--expires-in-days", "7")
    key = capsys.readouterr().out.strip()
    token = ApiToken.objects.get()
    assert (token.name, token.prefix) == ("cron", key[:12])
    assert token.expires_at is not None
    assert token.expires_at - timezone.now() > timedelta(days=6)
    assert bearer(key).get("/api/conversations/").status_code == 200


def test_the_command_rotates_by_revoking_the_persons_tokens_first(user, other_user, capsys):
    _, old = api_token_create(user=user, name="old")
    _, theirs = api_token_create(user=other_user, name="theirs")
    call_command("create_api_token", user.username, "--rotate")
    new = capsys.readouterr().out.strip()
    assert api_token_authenticate(key=old) is None
    assert api_token_authenticate(key=new) == user
    assert api_token_authenticate(key=theirs) == other_user


def test_the_command_refuses_an_unknown_person_or_a_bad_expiry(user):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody")
    with pytest.raises(CommandError, match="days"):
        call_command("create_api_token", user.username, "--expires-in-days", "0")
    assert not ApiToken.objects.exists()


# --- the import of DRF authtoken keys -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_imports_authtoken_keys_and_removes_the_plain_text(user):
    legacy_key = "0123456789abcdef0123456789abcdef01234567"
    created = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
                f"created {created} NOT NULL, user_id integer NOT NULL)"
            )
            cursor.execute(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [legacy_key, timezone.now() - timedelta(days=3), user.pk],
            )
        executor = MigrationExecutor(connection)
        executor.migrate([("accounts", "0002_import_authtoken_keys")])

        token = ApiToken.objects.get()
        assert (token.user, token.name, token.prefix) == (user, "Imported token", "01234567")
        assert timezone.now() - token.created_at > timedelta(days=2)
        assert bearer(legacy_key, "Token").get("/api/conversations/").status_code == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )


def test_nothing_else_is_created_by_a_refused_token(user):
    """A refused token does not reach the view: the conversation is not created."""
    response = bearer("chs_nope").post("/api/conversations/", {"title": "x"}, format="json")
    assert_refused(response)
    assert not Conversation.objects.exists()


def test_a_refused_rotation_keeps_the_persons_tokens(user):
    api_token_create(user=user, name="in use")
    with pytest.raises(CommandError):
        call_command("create_api_token", user.username, "--rotate", "--expires-in-days", "0")
    assert ApiToken.objects.filter(user=user, name="in use").exists()


def test_tokens_long_expired_go_when_a_new_one_is_made(user):
    old, _ = api_token_create(user=user, name="old", expires_in_days=30)
    recent, _ = api_token_create(user=user, name="recent", expires_in_days=30)
    now = timezone.now()
    ApiToken.objects.filter(pk=old.pk).update(expires_at=now - timedelta(days=31))
    ApiToken.objects.filter(pk=recent.pk).update(expires_at=now - timedelta(days=2))
    api_token_create(user=user, name="new")
    names = set(ApiToken.objects.filter(user=user).values_list("name", flat=True))
    assert names == {"recent", "new"}
