from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chatsite.accounts.services import FirstAccountExistsError, account_create_first
from tests.factories import UserFactory

User = get_user_model()
PASSWORD = "a sturdy passphrase 42"


@pytest.mark.django_db
def test_a_fresh_site_offers_to_create_the_first_account():
    client = Client()
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/setup/"
    assert b"Create the first account" in response.content


@pytest.mark.django_db
def test_the_first_account_is_a_superuser_and_is_logged_in():
    client = Client()
    response = client.post(
        "/accounts/setup/",
        {"username": "ada", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    ada = User.objects.get(username="ada")
    assert ada.is_superuser
    assert ada.is_staff
    assert response.context["user"] == ada
    assert response.redirect_chain[-1][0] == "/"


@pytest.mark.django_db
def test_setup_is_closed_once_an_account_exists():
    UserFactory(username="first")
    client = Client()
    response = client.post(
        "/accounts/setup/", {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not User.objects.filter(username="mallory").exists()
    with pytest.raises(FirstAccountExistsError):
        account_create_first(username="mallory", password=PASSWORD)


@pytest.mark.django_db
def test_setup_shows_form_errors_and_creates_nothing():
    response = Client().post(
        "/accounts/setup/", {"username": "ada", "password1": PASSWORD, "password2": "different"}
    )
    assert response.status_code == 200
    assert b"field-errors" in response.content
    assert not User.objects.exists()


@pytest.mark.django_db
def test_chat_pages_need_login():
    UserFactory()
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_login_and_logout():
    UserFactory(username="grace", password=PASSWORD)
    client = Client()
    response = client.post("/accounts/login/", {"username": "grace", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_a_wrong_password_is_refused():
    UserFactory(username="grace", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": "grace", "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


@pytest.mark.django_db
def test_sign_up_is_closed_by_default(settings):
    settings.CHATSITE_ALLOW_SIGNUP = False
    UserFactory()
    assert Client().get("/accounts/signup/").status_code == 404


@pytest.mark.django_db
def test_sign_up_when_allowed_makes_an_ordinary_account(settings):
    settings.CHATSITE_ALLOW_SIGNUP = True
    UserFactory()
    client = Client()
    client.post(
        "/accounts/signup/", {"username": "linus", "password1": PASSWORD, "password2": PASSWORD}
    )
    linus = User.objects.get(username="linus")
    assert not linus.is_staff
    assert not linus.is_superuser
    assert client.get("/").status_code == 200
