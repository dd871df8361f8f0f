"""Carry the keys of DRF's authtoken (the API's first tokens) over to ApiToken.

Existing scripts keep working: each key becomes a token named "Imported token" (stored as its
hash, like every token). The old table is then emptied rather than dropped: its rows held the
keys in plain text, and with `rest_framework.authtoken` no longer installed, nothing deletes a
row when its user is deleted, so a left-over row's foreign key would block deleting that person
on PostgreSQL. The table itself stays, matching the migration history Django recorded for it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return timezone.now()
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def import_authtoken_keys(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('key')}, {quote('user_id')}, {quote('created')} "  # noqa: S608
            f"FROM {quote(LEGACY_TABLE)}"
        )
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        if ApiToken.objects.filter(key_hash=key_hash).exists():
            continue
        ApiToken.objects.create(
            user_id=user_id,
            name="Imported token",
            prefix=key[:8],
            key_hash=key_hash,
            created_at=_aware(created),
        )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(LEGACY_TABLE)}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Reversing keeps the imported tokens: the plain-text keys are gone and cannot come back.
    operations = [migrations.RunPython(import_authtoken_keys, migrations.RunPython.noop)]
