"""How long rebuilding a conversation for the next request takes, as the conversation grows.

Run: `.venv/bin/python -m bench.history` (part of `python -m bench`).

Every turn, the engine loads the active path from the database and builds the exact request body
(`generation_prepare` + `PreparedGeneration.build`: the path, the summary it stands on, the
attachment plan, the request). Figure 4 of issue #8: at 10, 100, 1,000 and 5,000 messages, with
0 and 20 images (their Files API ids cached, as on every turn after the first), measured against
`json.loads` of a JSON payload as large as the request body, in the same run. Targets: the same
number of queries at every size, <= 20 ms at 1,000 messages, and time growing linearly
(5,000 / 1,000 ~ 5).
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import RESULTS, django_setup, figure, machine, median_seconds

SIZES = (10, 100, 1000, 5000)
IMAGE_COUNTS = (0, 20)
RUNS = 7
TARGET_MS_AT_1000 = 20.0
QUESTION = "Question {n}: how would you structure step {n} of the migration, and why?"
# A reply about as long as a typical one (~700 characters), with Markdown.
REPLY = (
    "Here is how I would approach it, step by step:\n\n"
    "1. **Read** the current schema and list every table the step touches.\n"
    "2. Write the migration so that it can run while the old code still serves requests.\n"
    "3. Backfill in batches of a few thousand rows, committing between batches.\n\n"
    "```python\nfor batch in batches(rows, size=5000):\n    backfill(batch)\n```\n\n"
    "Afterwards, switch the code over, and only then drop the old columns. That way each "
    "deployment can be rolled back on its own, and no request ever sees a half-migrated table."
)


def _conversation(owner: Any, messages: int, images: int) -> Any:
    """`messages` stored turns ending with the person's, plus the pending reply to rebuild for."""
    from django.db import transaction

    from conversations.models import Attachment, Conversation, Message

    with transaction.atomic():
        conversation = Conversation.objects.create(owner=owner, title=f"{messages} messages")
        parent = None
        user_messages = []
        for n in range(messages):
            is_user = (messages - 1 - n) % 2 == 0  # the last stored turn is the person's
            parent = Message.objects.create(
                conversation=conversation,
                parent=parent,
                role=Message.Role.USER if is_user else Message.Role.ASSISTANT,
                text=QUESTION.format(n=n) if is_user else REPLY,
                status=Message.Status.COMPLETE,
                input_tokens=0 if is_user else 40 * n,
                output_tokens=0 if is_user else 180,
            )
            if is_user:
                user_messages.append(parent)
        for index, message in enumerate(user_messages[-images:] if images else []):
            Attachment.objects.create(
                owner=owner,
                conversation=conversation,
                message=message,
                file=f"attachments/bench/{index}.jpg",
                media_type="image/jpeg",
                width=1568,
                height=1176,
                byte_size=350_000,
                token_estimate=2352,
                files_api_id=f"file_bench_{index}",
            )
        reply = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role=Message.Role.ASSISTANT,
            status=Message.Status.PENDING,
        )
        conversation.active_leaf = reply
        conversation.save(update_fields=["active_leaf"])
    return reply


def _rebuild(reply_id: int) -> dict[str, Any]:
    """What the engine does before every call (minus the network): returns the body."""
    from asgiref.sync import async_to_sync

    from conversations.services.generation_store import PreparedGeneration, generation_prepare
    from conversations.services.vision import attachment_blocks

    prepared = generation_prepare(reply_id)
    assert isinstance(prepared, PreparedGeneration), prepared
    blocks = async_to_sync(attachment_blocks)(prepared.attachment_plan)
    assert all(block["source"]["type"] == "file" for turn in blocks.values() for block in turn), (
        "a cached file id must be used, not the file's bytes"
    )
    prepared.images.blocks.update(blocks)
    return prepared.build(prepared.summary).body


def _make_pending(reply_id: int) -> None:
    from conversations.models import Message

    Message.objects.filter(pk=reply_id).update(status=Message.Status.PENDING)


def measure(owner: Any, messages: int, images: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    reply = _conversation(owner, messages, images)
    _make_pending(reply.pk)
    with CaptureQueriesContext(connection) as queries:
        body = _rebuild(reply.pk)
    payload = json.dumps(body)

    def timed_rebuild() -> None:
        _make_pending(reply.pk)  # a few microseconds; keeps each run a real first preparation
        _rebuild(reply.pk)

    rebuild = median_seconds(timed_rebuild, RUNS)
    pending = median_seconds(lambda: _make_pending(reply.pk), RUNS)
    parse = median_seconds(lambda: json.loads(payload), RUNS)
    rebuild -= pending
    return {
        "messages": messages,
        "images": images,
        "turns_sent": len(body["messages"]),
        "body_bytes": len(payload),
        "queries": len(queries),
        "rebuild_ms": round(rebuild * 1000, 2),
        "json_loads_ms": round(parse * 1000, 2),
        "ratio_to_json_loads": round(rebuild / parse, 1) if parse else None,
    }


def run() -> dict[str, Any]:
    django_setup()
    from django.contrib.auth.models import User

    owner = User.objects.create_user("bench-history", password="bench-password-123")
    rows = [measure(owner, n, images) for images in IMAGE_COUNTS for n in SIZES]
    by = {(row["messages"], row["images"]): row for row in rows}
    query_counts = {row["queries"] for row in rows}
    at_1000 = max(by[1000, 0]["rebuild_ms"], by[1000, 20]["rebuild_ms"])
    growth = {
        images: round(by[5000, images]["rebuild_ms"] / by[1000, images]["rebuild_ms"], 2)
        for images in IMAGE_COUNTS
    }
    constant = len(query_counts) == 1
    return {
        "machine": machine(),
        "rows": rows,
        "figures": [
            figure(
                4,
                "history rebuild at 1,000 messages (worst of 0 / 20 images)",
                value=at_1000,
                unit="ms",
                baseline=f"json.loads of the same-sized body: {by[1000, 0]['json_loads_ms']} ms",
                budget=f"<= {TARGET_MS_AT_1000:.0f} ms; constant queries; 5,000/1,000 ~ 5",
                met=constant and at_1000 <= TARGET_MS_AT_1000 and max(growth.values()) <= 6.5,
                queries=sorted(query_counts),
                growth_5000_over_1000=growth,
            )
        ],
    }


def main() -> None:
    report = run()
    print(
        f"{'messages':>9}{'images':>7}{'queries':>8}{'body':>10}{'rebuild':>11}{'json.loads':>12}"
    )
    for row in report["rows"]:
        print(
            f"{row['messages']:>9}{row['images']:>7}{row['queries']:>8}"
            f"{row['body_bytes'] // 1024:>8}KB{row['rebuild_ms']:>9.2f}ms"
            f"{row['json_loads_ms']:>10.2f}ms"
        )
    (fig,) = report["figures"]
    detail = fig["detail"]
    print(
        f"queries {detail['queries']}; 5,000/1,000 time {detail['growth_5000_over_1000']};"
        f" target {fig['budget']}: {'met' if fig['met'] else 'NOT met'}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "history.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
