"""How much of a long conversation's input is read from the prompt cache (figure 7 of issue #8).

Run: `.venv/bin/python -m bench.cache` (part of `python -m bench`).

A 40-turn conversation with a ~2,500-token system prompt and a small context budget (6,000
tokens), so that it is summarized along the way, is driven through the engine and the real SDK
against the offline simulator, which applies the documented caching rules (prefix hashes at the
breakpoints, minimum cacheable length, TTL, 20-block look-back) and reports exact cache figures.
The share is what was read from cache over all input tokens the conversation cost: every reply's
prompt (uncached + cache write + cache read) and the summary calls' input. Target: >= 0.9.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.common import RESULTS, django_setup, figure, machine

TURNS = 40
BUDGET = 6000
TARGET_SHARE = 0.9
SYSTEM_PROMPT = "You are a patient tutor. Explain step by step, with care. " * 150


def run() -> dict[str, Any]:
    os.environ["CHATSITE_SEND_RATE_LIMIT"] = "1000/minute"  # the turns follow each other at once
    os.environ["CHATSITE_SIMULATOR_TOKEN_DELAY"] = "0"  # pacing plays no part in caching
    django_setup()
    from django.contrib.auth.models import User

    from conversations.models import Conversation, Message, Summary
    from conversations.services.generation import generation_run_blocking
    from conversations.services.messages import message_send

    owner = User.objects.create_user("bench-cache", password="bench-password-123")
    conversation = Conversation.objects.create(
        owner=owner,
        model="claude-sonnet-4-6",
        system_prompt=SYSTEM_PROMPT,
        parameters={"max_tokens": 1000, "context_budget": BUDGET},
    )
    for turn in range(TURNS):
        sent = message_send(conversation=conversation, text=f"Question {turn}: what comes next?")
        generation_run_blocking(reply=sent.assistant_message)
    replies = list(
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT).order_by(
            "id"
        )
    )
    failed = [r.error_detail for r in replies if r.status != Message.Status.COMPLETE]
    if failed:
        raise RuntimeError(f"replies failed: {failed}")
    summaries = list(Summary.objects.filter(conversation=conversation))
    read = sum(r.cache_read_input_tokens for r in replies)
    prompts = sum(
        r.input_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens for r in replies
    )
    summary_input = sum(s.input_tokens for s in summaries)
    share = read / (prompts + summary_input)
    per_turn = [round(r.cache_read_input_tokens / r.context_tokens, 3) for r in replies]
    return {
        "machine": machine(),
        "figures": [
            figure(
                7,
                f"share of input tokens read from cache, {TURNS} turns with summarization",
                value=round(share, 3),
                unit="share",
                baseline="— (all input tokens of the replies and the summary calls)",
                budget=f">= {TARGET_SHARE}",
                met=share >= TARGET_SHARE,
                compactions=len(summaries),
                replies_only_share=round(read / prompts, 3),
                summary_input_tokens=summary_input,
                prompt_tokens=prompts,
                cache_read_tokens=read,
                per_turn_share=per_turn,
            )
        ],
    }


def main() -> None:
    report = run()
    (fig,) = report["figures"]
    detail = fig["detail"]
    print(f"turns {TURNS}, budget {BUDGET} tokens, compactions {detail['compactions']}")
    print(
        f"read from cache: {fig['value']:.3f} of all input tokens "
        f"({detail['replies_only_share']:.3f} of the replies' prompts alone); "
        f"target {fig['budget']}: {'met' if fig['met'] else 'NOT met'}"
    )
    print("per turn:", " ".join(f"{share:.2f}" for share in detail["per_turn_share"]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
