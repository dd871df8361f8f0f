"""Full-text search indexes (raw SQL: nothing in the model state changes).

PostgreSQL: a text search configuration and GIN expression indexes, built CONCURRENTLY (so the
migration is not atomic). SQLite: FTS5 tables and their triggers, or nothing without FTS5
(search then falls back to icontains). See conversations/services/search_index.py and
docs/search.md.
"""

from django.db import migrations

from conversations.services.search_index import search_index_install, search_index_uninstall


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        search_index_install(connection=schema_editor.connection)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        search_index_uninstall(connection=schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0003_attachments"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
