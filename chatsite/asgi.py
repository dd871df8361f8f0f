"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from chatsite.body_limit import BodySizeLimit  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402


def _largest_body() -> int:
    # The largest legitimate body: an upload or a transcript import (each view checks its own).
    return max(settings.CHATSITE_UPLOAD_MAX_BYTES, settings.CHATSITE_IMPORT_MAX_BYTES)


application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app, limit=_largest_body),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
