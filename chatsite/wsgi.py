"""WSGI entry point (HTTP only; the chat needs ASGI for WebSockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
application = get_wsgi_application()
