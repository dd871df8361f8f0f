"""Per-person limits on sends and uploads, shared by every process through Redis when it is
configured.

Backed by the `limits` library (moving window). Redis being down must not stop people from
chatting: the limiter then lets the send through and logs.
"""

from __future__ import annotations

import logging
from functools import cache

from django.conf import settings
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)


@cache
def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def _storage_uri() -> str:
    return settings.REDIS_URL or "memory://"


def send_rate_limit() -> RateLimitItem:
    return parse(settings.CHATSITE_SEND_RATE_LIMIT)


def send_allowed(*, user_id: int) -> bool:
    """Count one send for the person; False when they are over the limit."""
    return _hit("send", send_rate_limit(), user_id)


def upload_allowed(*, user_id: int) -> bool:
    """Count one upload for the person; False when they are over the limit."""
    return _hit("upload", parse(settings.CHATSITE_UPLOAD_RATE_LIMIT), user_id)


def _hit(kind: str, limit: RateLimitItem, user_id: int) -> bool:
    try:
        return _limiter(_storage_uri()).hit(limit, kind, str(user_id))
    except Exception:
        logger.warning("%s rate limiter unavailable; letting it through", kind, exc_info=True)
        return True


def limits_reset() -> None:
    """Forget every count (tests)."""
    _limiter(_storage_uri()).storage.reset()
