"""Personal API tokens: only a hash is stored; the token itself is shown once, at creation."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

# Every token starts with this marker, so a leaked one is recognizable (secret scanners, logs).
TOKEN_MARKER = "chs_"
# How many random characters after the marker are kept in clear, to tell tokens apart in lists.
PREFIX_LENGTH = 8


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The token's beginning as lists show it: the marker and PREFIX_LENGTH characters (keys
    # imported from DRF's authtoken have no marker: their first PREFIX_LENGTH hex digits).
    prefix = models.CharField(max_length=len(TOKEN_MARKER) + PREFIX_LENGTH)
    # sha256 of the whole token: tokens carry 256 random bits, so a slow hash would only add
    # cost to every request, no safety.
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self, *, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
