from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chatsite.accounts.services import (
    FirstAccountExistsError,
    account_create,
    account_create_first,
    account_exists,
)


class ChatsiteLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # A fresh installation has nobody to log in: offer to create the first account.
        if not account_exists():
            return redirect("setup")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["allow_signup"] = settings.CHATSITE_ALLOW_SIGNUP
        return context


@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    if account_exists():
        return redirect("login")
    form: UserCreationForm[User] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_create_first(
                username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except FirstAccountExistsError:
            messages.info(request, "The first account was created meanwhile. Log in instead.")
            return redirect("login")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "accounts/setup.html", {"form": form})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.CHATSITE_ALLOW_SIGNUP:
        raise Http404("Sign-up is closed on this site.")
    if not account_exists():
        return redirect("setup")
    form: UserCreationForm[User] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = account_create(
            username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})
