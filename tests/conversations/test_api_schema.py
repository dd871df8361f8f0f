"""schemathesis against /api/schema/: generated requests never get a 5xx, and every response
(status, content type, headers, body) is the one the schema documents."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatsite.accounts.tokens import api_token_create
from tests.conversations.support import ask

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _openapi_document() -> dict:
    """The document /api/schema/ serves, built in process (no database needed)."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(document, default=str))


schema = schemathesis.openapi.from_dict(_openapi_document())


@pytest.fixture
def wsgi_app(db):
    from chatsite.wsgi import application

    # As Django's test client does: the WSGI handler would close the test's database
    # connection after each request, and with it the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(user, conversation, simulator):
    reply = ask(conversation, "hello there")
    return {
        "token": api_token_create(user=user, name="schemathesis")[1],
        "conversation_id": str(conversation.uuid),
        "message_id": str(reply.uuid),
    }


@schema.parametrize()
@hypothesis_settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case, world, wsgi_app):
    # Real ids, so bodies and queries reach the code behind the lookups (a random id is a 404).
    for name in ("conversation_id", "message_id"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = world[name]
    if case.query:
        case.query.pop("stream", None)  # SSE is covered by its own tests
    with transaction.atomic():
        case.call_and_validate(
            app=wsgi_app, headers={"Authorization": f"Bearer {world['token']}"}, checks=CHECKS
        )
        transaction.set_rollback(True)


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/conversations/{conversation_id}/messages/{message_id}/select/" in (
        target.read_text()
    )
