from django.contrib.auth.views import LogoutView
from django.urls import path

from chatsite.accounts import views

urlpatterns = [
    path("login/", views.ChatsiteLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("setup/", views.setup, name="setup"),
    path("signup/", views.signup, name="signup"),
]
