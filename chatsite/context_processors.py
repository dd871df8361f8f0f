from typing import Any

from django.http import HttpRequest

from conversations.llm.client import uses_offline_simulator


def chatsite(request: HttpRequest) -> dict[str, Any]:
    return {"offline_simulator": uses_offline_simulator()}
