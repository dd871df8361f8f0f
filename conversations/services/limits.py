"""Per-person limits on sends, shared by every process through Redis when it is configured.

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
    try:
        return _limiter(_storage_uri()).hit(send_rate_limit(), "send", str(user_id))
    except Exception:
        logger.warning("send rate limiter unavailable; letting the send through", exc_info=True)
        return True


def limits_reset() -> None:
    """Forget every count (tests)."""
    _limiter(_storage_uri()).storage.reset()
