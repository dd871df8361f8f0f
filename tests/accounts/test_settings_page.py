"""The settings page: API tokens listed, created (the token shown once) and revoked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chatsite.accounts.models import ApiToken
from chatsite.accounts.tokens import api_token_authenticate, api_token_create

pytestmark = pytest.mark.django_db

SETTINGS = "/accounts/settings/"
CREATE = "/accounts/settings/tokens/"


def revoke_url(token: ApiToken) -> str:
    return f"/accounts/settings/tokens/{token.pk}/revoke/"


def shown_key(html: str) -> str | None:
    match = re.search(r'id="new-token-value"[^>]*value="([^"]+)"', html)
    if match is None:
        match = re.search(r'value="([^"]+)"[^>]*id="new-token-value"', html)
    return match.group(1) if match else None


def test_the_settings_page_needs_a_login(db):
    response = Client().get(SETTINGS)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_lists_only_the_persons_tokens_in_constant_queries(
    logged_in_client, user, other_user, django_assert_max_num_queries
):
    for i in range(3):
        api_token_create(user=user, name=f"mine {i}")
    api_token_create(user=other_user, name="someone else's")
    # session, user, tokens
    with django_assert_max_num_queries(3):
        response = logged_in_client.get(SETTINGS)
    html = response.content.decode()
    assert response.status_code == 200
    assert all(f"mine {i}" in html for i in range(3))
    assert "someone else" not in html
    for token in ApiToken.objects.filter(user=user):
        assert f"{token.prefix}…" in html
    assert "no-store" in response["Cache-Control"]


def test_the_page_has_no_inline_script(logged_in_client):
    html = logged_in_client.get(SETTINGS).content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all("src=" in tag for tag in scripts)
    assert "/static/accounts/settings.js" in html
    assert "/static/accounts/settings.css" in html


def test_creating_shows_the_token_once_and_not_on_reload(logged_in_client, user):
    response = logged_in_client.post(CREATE, {"name": "laptop", "expires_in_days": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    key = shown_key(html)
    assert key is not None
    assert key.startswith("chs_")
    assert "shown only this once" in html
    assert api_token_authenticate(key=key) == user
    token = ApiToken.objects.get()
    assert token.name == "laptop"
    assert token.expires_at is not None

    again = logged_in_client.get(SETTINGS).content.decode()
    assert key not in again
    assert shown_key(again) is None
    assert "laptop" in again


def test_never_expiring_tokens_can_be_created(logged_in_client):
    logged_in_client.post(CREATE, {"name": "forever", "expires_in_days": ""})
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "expires_in_days": "30"},
        {"name": "\x00\u202e", "expires_in_days": "30"},
        {"name": "x" * 101, "expires_in_days": "30"},
        {"name": "ok", "expires_in_days": "7"},
        {"name": "ok", "expires_in_days": "<script>"},
    ],
)
def test_invalid_input_is_refused_with_a_message_and_creates_nothing(logged_in_client, data):
    response = logged_in_client.post(CREATE, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "field-errors" in html
    assert shown_key(html) is None
    assert "<script>" not in html.split("</head>")[1].replace('<script type="module"', "")
    assert not ApiToken.objects.exists()


def test_past_the_cap_the_page_says_so(logged_in_client, user, settings):
    settings.CHATSITE_MAX_API_TOKENS = 1
    api_token_create(user=user, name="only")
    response = logged_in_client.post(CREATE, {"name": "more", "expires_in_days": "30"})
    assert response.status_code == 400
    assert "Revoke one you no longer use" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_revoking_removes_the_token_and_says_so(logged_in_client, user):
    token, key = api_token_create(user=user, name="old laptop")
    response = logged_in_client.post(revoke_url(token), follow=True)
    assert response.redirect_chain == [(SETTINGS, 302)]
    assert "Revoked the token “old laptop”" in response.content.decode()
    assert not ApiToken.objects.exists()
    assert api_token_authenticate(key=key) is None


def test_another_persons_token_cannot_be_revoked(logged_in_client, other_user):
    theirs, key = api_token_create(user=other_user, name="theirs")
    assert logged_in_client.post(revoke_url(theirs)).status_code == 404
    for missing in ("99999999", "9" * 30):
        url = f"/accounts/settings/tokens/{missing}/revoke/"
        assert logged_in_client.post(url).status_code == 404
    assert api_token_authenticate(key=key) == other_user


def test_revoking_takes_a_post(logged_in_client, user):
    token, _ = api_token_create(user=user, name="t")
    assert logged_in_client.get(revoke_url(token)).status_code == 405
    assert ApiToken.objects.exists()


def test_posts_without_the_csrf_token_are_refused(user):
    token, _ = api_token_create(user=user, name="keep")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(CREATE, {"name": "x", "expires_in_days": "30"}).status_code == 403
    assert client.post(revoke_url(token)).status_code == 403
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["keep"]
    # With the token from the page, the same post goes through.
    client.get(SETTINGS)
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        CREATE, {"name": "x", "expires_in_days": "30", "csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 200
    assert ApiToken.objects.count() == 2


def test_an_expired_token_is_marked_expired(logged_in_client, user):
    token, _ = api_token_create(user=user, name="stale", expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    html = logged_in_client.get(SETTINGS).content.decode()
    assert re.search(r'class="expired">expired \d{4}-\d\d-\d\d<', html)
