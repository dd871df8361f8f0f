"""Reading the requests the simulator received, whatever block shape the builder chose."""

from __future__ import annotations

import json
from typing import Any


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(block["text"] for block in content if block.get("type") == "text")


def sent_turns(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) per turn; the text blocks of a turn joined by a blank line."""
    return [(turn["role"], content_text(turn["content"])) for turn in request["messages"]]


def sent_system(request: dict[str, Any]) -> str:
    return content_text(request.get("system") or "")


def parse_sse(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) per server-sent event of a response body."""
    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events
