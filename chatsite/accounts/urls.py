from django.contrib.auth.views import LogoutView
from django.urls import path

from chatsite.accounts import settings_views, views

urlpatterns = [
    path("login/", views.ChatsiteLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("setup/", views.setup, name="setup"),
    path("signup/", views.signup, name="signup"),
    path("settings/", settings_views.account_settings, name="account-settings"),
    path("settings/tokens/", settings_views.api_token_create_view, name="api-token-create"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        settings_views.api_token_revoke_view,
        name="api-token-revoke",
    ),
]
