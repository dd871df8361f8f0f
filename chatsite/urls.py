from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from chatsite.api_docs import ApiRedocView, ApiSwaggerView


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("chatsite.accounts.urls")),
    # Before the API's own routes, which end in a catch-all JSON 404.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", ApiRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("conversations.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("", include("conversations.urls")),
]

handler500 = "chatsite.errors.server_error"
