"""The conversation engine end to end: services -> request builder -> the real SDK -> simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conversations.llm.catalog import model_resolve
from conversations.models import Message
from conversations.services.context import message_cost
from conversations.services.conversations import (
    ConversationValidationError,
    conversation_update,
)
from conversations.services.generation import generation_run_blocking
from conversations.services.history import CONTINUE_PROMPT
from conversations.services.message_rules import MessageValidationError
from conversations.services.messages import (
    message_continue,
    message_send,
)
from tests.conversations.support import ask, go_on
from tests.factories import ConversationFactory
from tests.sent import sent_turns


def full_reply(model: str, text: str, user) -> str:
    """What the simulator answers `text` with when nothing cuts it."""
    conversation = ConversationFactory(owner=user, model=model, parameters={"max_tokens": 4000})
    return ask(conversation, text).text


# --- continue ---------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("model", ["claude-opus-4-5", "claude-sonnet-4-6"])
def test_a_reply_cut_by_max_tokens_continues_into_one_joined_reply(user, simulator, model):
    question = "Tell me everything [sim:words=120]"
    conversation = ConversationFactory(owner=user, model=model, parameters={"max_tokens": 40})
    cut = ask(conversation, question)
    assert (cut.status, cut.stop_reason) == ("complete", "max_tokens")
    conversation_update(conversation=conversation, parameters={"max_tokens": 4000})

    joined = go_on(conversation, cut)

    assert joined.pk == cut.pk
    assert (joined.status, joined.stop_reason, joined.continuations) == ("complete", "end_turn", 1)
    assert joined.text.startswith(cut.text.rstrip())
    assert joined.text == full_reply(model, question, user)
    assert joined.output_tokens > cut.output_tokens  # the calls add up
    assert len(joined.api_requests) == 2
    continuation = sent_turns(joined.api_requests[-1])
    if model_resolve(model).accepts_prefill:
        assert continuation[-1] == ("assistant", cut.text.rstrip())
    else:
        assert continuation[-2:] == [("assistant", cut.text), ("user", CONTINUE_PROMPT)]


@pytest.mark.django_db
def test_a_complete_reply_cannot_be_continued(conversation, simulator):
    reply = ask(conversation, "hello")
    with pytest.raises(MessageValidationError) as error:
        message_continue(conversation=conversation, message_uuid=reply.uuid)
    assert error.value.field == "message_id"


@pytest.mark.django_db
def test_a_paused_turn_can_be_continued(conversation, simulator):
    paused = ask(conversation, "long job [sim:stop=pause_turn] [sim:words=60]")
    assert paused.stop_reason == "pause_turn"
    assert go_on(conversation, paused).status == "complete"


# --- prefill ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_prefill_starts_the_reply_on_models_that_accept_it(user, simulator):
    conversation = ConversationFactory(owner=user, model="claude-opus-4-5")
    reply = ask(conversation, "Give me JSON", prefill="{  ")
    assert reply.text.startswith("{")
    assert reply.prefill_length == 1
    assert sent_turns(simulator.requests[-1])[-1] == ("assistant", "{")


@pytest.mark.django_db
def test_a_prefill_is_refused_on_models_that_reject_it_and_nothing_is_stored(user, simulator):
    conversation = ConversationFactory(owner=user, model="claude-sonnet-4-6")
    with pytest.raises(MessageValidationError) as error:
        message_send(conversation=conversation, text="Give me JSON", prefill="{")
    assert error.value.field == "prefill"
    assert "Claude Sonnet 4.6" in error.value.message
    assert not Message.objects.exists()
    assert simulator.requests == []


# --- parameter gating -------------------------------------------------------------------------
@pytest.mark.django_db
def test_sampling_parameters_reach_models_that_take_them_under_the_older_version(user, simulator):
    conversation = ConversationFactory(owner=user, model="claude-haiku-4-5")
    conversation_update(conversation=conversation, parameters={"temperature": 0})
    reply = ask(conversation, "hi")
    assert reply.status == "complete", reply.error_detail
    assert simulator.requests[-1]["temperature"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "parameters", "field"),
    [
        ("claude-opus-4-8", {"temperature": 0.5}, "temperature"),
        ("claude-haiku-4-5", {"temperature": 0.5, "top_p": 0.9}, "top_p"),
        ("claude-sonnet-4-5", {"effort": "high"}, "effort"),
        ("claude-opus-4-6", {"thinking": True, "top_k": 5}, "top_k"),
        ("claude-sonnet-4-6", {"max_tokens": 0}, "max_tokens"),
        ("claude-sonnet-4-6", {"max_tokens": 128_001}, "max_tokens"),
        ("claude-opus-4-5", {"max_tokens": 64_001}, "max_tokens"),
        ("claude-sonnet-4-6", {"stop_sequences": [""]}, "stop_sequences"),
        ("claude-sonnet-4-6", {"stop_sequences": ["x"] * 9}, "stop_sequences"),
        ("claude-sonnet-4-6", {"stop_sequences": ["x" * 201]}, "stop_sequences"),
        ("claude-sonnet-4-6", {"stop_sequences": "END"}, "stop_sequences"),
        ("claude-sonnet-4-6", {"context_budget": 10**7}, "context_budget"),
        ("claude-sonnet-4-6", {"cache_ttl": "2h"}, "cache_ttl"),
        ("claude-sonnet-4-6", {"colour": "blue"}, "colour"),
        ("claude-sonnet-4-6", {"max_tokens": "--5"}, "max_tokens"),
        ("claude-sonnet-4-6", {"max_tokens": "²"}, "max_tokens"),
        ("claude-sonnet-4-6", {"max_tokens": "9" * 5000}, "max_tokens"),
        ("claude-sonnet-4-6", {"max_tokens": True}, "max_tokens"),
        ("claude-sonnet-4-6", {"stop_sequences": ["a\x00"]}, "stop_sequences"),
        ("claude-sonnet-4-6", {"temperature": "warm"}, "temperature"),
        ("claude-sonnet-4-6", {"temperature": float("nan")}, "temperature"),
        ("claude-opus-4-8", {"thinking": True, "thinking_budget": 2048}, "thinking_budget"),
        ("claude-opus-4-5", {"thinking": True, "max_tokens": 1024}, "max_tokens"),
        ("claude-opus-4-5", {"thinking_budget": 10**30}, "thinking_budget"),
        ("claude-opus-4-8", {"effort": False}, "effort"),
        ("claude-sonnet-4-6", {"thinking": "yes"}, "thinking"),
    ],
)
def test_a_setting_the_model_would_reject_is_refused_naming_it(user, model, parameters, field):
    conversation = ConversationFactory(owner=user, model=model, parameters={})
    with pytest.raises(ConversationValidationError) as error:
        conversation_update(conversation=conversation, parameters=parameters)
    assert error.value.field == field
    conversation.refresh_from_db()
    assert conversation.parameters == {}


@pytest.mark.django_db
def test_an_unknown_model_is_refused(conversation):
    with pytest.raises(ConversationValidationError) as error:
        conversation_update(conversation=conversation, model="claude-imaginary-9")
    assert error.value.field == "model"
    conversation.refresh_from_db()
    assert conversation.model == "claude-sonnet-4-6"


@pytest.mark.django_db
def test_a_budget_smaller_than_the_system_prompt_is_refused(conversation):
    with pytest.raises(ConversationValidationError) as error:
        conversation_update(
            conversation=conversation,
            system_prompt="Rules. " * 5000,
            parameters={"context_budget": 4000},
        )
    assert error.value.field == "context_budget"
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""  # nothing stored half-way


@pytest.mark.django_db
def test_switching_to_a_model_that_rejects_a_setting_names_the_setting(user):
    conversation = ConversationFactory(
        owner=user, model="claude-haiku-4-5", parameters={"temperature": 0.3}
    )
    with pytest.raises(ConversationValidationError) as error:
        conversation_update(conversation=conversation, model="claude-opus-4-8")
    assert error.value.field == "temperature"


# --- thinking, stop reasons, usage ------------------------------------------------------------
@pytest.mark.django_db
def test_thinking_is_stored_apart_from_the_reply(user, simulator):
    conversation = ConversationFactory(
        owner=user, model="claude-opus-4-8", parameters={"max_tokens": 4000, "thinking": True}
    )
    reply = ask(conversation, "Think first")
    assert simulator.requests[-1]["thinking"] == {"type": "adaptive"}
    assert reply.thinking
    assert reply.thinking not in reply.text
    assert 0 < reply.thinking_tokens <= reply.output_tokens


@pytest.mark.django_db
def test_a_stop_sequence_is_stored_with_the_sequence(user, simulator):
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "stop_sequences": ["said"]}
    )
    reply = ask(conversation, "hello")
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "said")
    assert "said" not in reply.text


@pytest.mark.django_db
def test_a_refusal_is_stored_as_such(conversation, simulator):
    assert ask(conversation, "no [sim:stop=refusal]").stop_reason == "refusal"


@pytest.mark.django_db
def test_usage_and_cost_are_recorded_per_message(conversation, simulator):
    reply = ask(conversation, "hello")
    spec = model_resolve(conversation.model)
    assert reply.context_tokens == (
        reply.input_tokens + reply.cache_read_input_tokens + reply.cache_creation_input_tokens
    )
    assert spec.prices is not None
    # Sonnet 4.6 per million tokens: $3 input, $15 output, $0.30 cache read, $3.75 5-min write.
    expected = (
        Decimal(3) * reply.input_tokens
        + Decimal(15) * reply.output_tokens
        + Decimal("0.3") * reply.cache_read_input_tokens
        + Decimal("3.75") * reply.cache_creation_input_tokens
    ) / 1_000_000
    assert reply.cost_usd == expected.quantize(Decimal("0.000001"))
    assert reply.cost_usd > Decimal(0)


def test_cache_tokens_are_priced_by_their_kind():
    spec = model_resolve("claude-sonnet-4-6")
    million = 1_000_000
    assert message_cost(spec=spec, input_tokens=million, output_tokens=0) == Decimal("3")
    assert message_cost(spec=spec, input_tokens=0, output_tokens=million) == Decimal("15")
    read = message_cost(spec=spec, input_tokens=0, output_tokens=0, cache_read_tokens=million)
    assert read == Decimal("0.3")
    write_5m = message_cost(spec=spec, input_tokens=0, output_tokens=0, cache_write_tokens=million)
    assert write_5m == Decimal("3.75")
    write_1h = message_cost(
        spec=spec,
        input_tokens=0,
        output_tokens=0,
        cache_write_tokens=million,
        cache_write_1h_tokens=million,
    )
    assert write_1h == Decimal("6")
    assert message_cost(spec=model_resolve("claude-x"), input_tokens=1, output_tokens=1) is None


@pytest.mark.django_db
def test_the_request_inspector_keeps_the_exact_body(conversation, simulator):
    reply = ask(conversation, "inspect me")
    (recorded,) = reply.api_requests
    sent = {k: v for k, v in simulator.requests[-1].items() if k != "stream"}
    assert recorded == sent


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("overloaded", "overloaded"),
        ("rate_limit", "rate_limited"),
        ("api", "api_error"),
        ("auth", "authentication"),
        ("invalid", "invalid_request"),
    ],
)
def test_every_api_error_is_stored_with_a_readable_explanation(conversation, fault, error_type):
    reply = ask(conversation, f"x [sim:error={fault}]")
    assert (reply.status, reply.error_type) == ("error", error_type)
    assert reply.error_detail


@pytest.mark.django_db
def test_the_sdk_retries_an_overloaded_api_before_the_stream_starts(conversation, simulator):
    reply = ask(conversation, "x [sim:error=overloaded] [sim:error_times=2]")
    assert reply.status == "complete"
    assert len(simulator.requests) == 3


@pytest.mark.django_db
def test_an_error_event_mid_stream_keeps_the_partial_text(conversation, simulator):
    reply = ask(conversation, "x [sim:error_after=5]")
    assert (reply.status, reply.error_type) == ("error", "overloaded")
    assert len(reply.text.split()) == 5


@pytest.mark.django_db
def test_a_prompt_too_long_error_compacts_and_retries_once(user, simulator):
    conversation = ConversationFactory(owner=user, parameters={"max_tokens": 200})
    for n in range(6):
        ask(conversation, f"Earlier question {n}: " + "words " * 200)
    reply = ask(conversation, "now [sim:window=900]")
    assert reply.status == "complete", reply.error_detail
    assert conversation.summaries.count() == 1
    assert len(reply.api_requests) == 2
    assert reply.summary_id == conversation.summaries.get().pk


@pytest.mark.django_db
def test_regenerating_after_a_switch_to_a_model_without_prefill_drops_the_prefill(user, simulator):
    from conversations.services.messages import message_regenerate

    conversation = ConversationFactory(owner=user, model="claude-opus-4-5")
    first = ask(conversation, "JSON please", prefill="{")
    conversation_update(conversation=conversation, model="claude-sonnet-4-6")
    again = message_regenerate(conversation=conversation, message_uuid=first.uuid)
    generation_run_blocking(reply=again)
    again.refresh_from_db()
    assert (again.status, again.prefill_length) == ("complete", 0)
    assert sent_turns(simulator.requests[-1])[-1][0] == "user"


def test_dated_ids_of_known_models_keep_their_capabilities():
    spec = model_resolve("claude-haiku-4-5-20251001")
    assert spec.id == "claude-haiku-4-5-20251001"
    assert spec.accepts_prefill
    assert spec.prices is not None


@pytest.mark.django_db
def test_an_attached_image_reaches_claude_and_is_recorded_by_hash(
    conversation, simulator, settings
):
    import io

    from django.core.files.base import ContentFile
    from PIL import Image

    from conversations.models import Attachment

    settings.CHATSITE_FILES_API = False  # inline bytes, which the record replaces by a hash
    result = message_send(conversation=conversation, text="What is this?")
    buffer = io.BytesIO()
    Image.new("RGB", (56, 28), "red").save(buffer, format="PNG")
    Attachment.objects.create(
        owner=conversation.owner,
        message=result.user_message,
        file=ContentFile(buffer.getvalue(), name="red.png"),
        media_type="image/png",
    )
    generation_run_blocking(reply=result.assistant_message)
    reply = Message.objects.get(pk=result.assistant_message.pk)
    assert reply.status == "complete", reply.error_detail
    assert "1 images" in reply.text
    sent_image = simulator.requests[-1]["messages"][0]["content"][0]
    assert sent_image["source"]["media_type"] == "image/png"
    recorded = reply.api_requests[0]["messages"][0]["content"][0]["source"]
    assert "data" not in recorded
    assert recorded["data_chars"] == len(sent_image["source"]["data"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"system_prompt": "bad \x00 byte"}, "system"),
        ({"system_prompt": 12}, "system"),
        ({"title": ["not", "text"]}, "title"),
    ],
)
def test_a_bad_conversation_update_names_the_field_and_stores_nothing(conversation, changes, field):
    with pytest.raises(ConversationValidationError) as error:
        conversation_update(conversation=conversation, model="claude-opus-4-5", **changes)
    assert error.value.field == field
    conversation.refresh_from_db()
    assert conversation.model == "claude-sonnet-4-6"


@pytest.mark.django_db
def test_a_rewritten_summary_is_counted_again(conversation):
    from conversations.llm.models import estimate_text_tokens
    from conversations.models import Summary
    from conversations.services.conversations import summary_update

    (question,) = [ask(conversation, "hello")]
    summary = Summary.objects.create(
        conversation=conversation, covers_up_to=question, text="short", token_count=2
    )
    longer = "A much longer summary of what was said. " * 20
    summary_update(summary=summary, text=longer)
    summary.refresh_from_db()
    assert (summary.text, summary.is_edited) == (longer, True)
    assert summary.token_count == estimate_text_tokens(longer)
    for bad in ("", "   ", "x\x00y"):
        with pytest.raises(ConversationValidationError):
            summary_update(summary=summary, text=bad)


@pytest.mark.django_db
def test_recorded_prompts_are_loaded_only_when_read(
    conversation, simulator, django_assert_num_queries
):
    reply = ask(conversation, "hello")
    loaded = Message.objects.get(pk=reply.pk)
    assert "api_requests" in loaded.get_deferred_fields()
    with django_assert_num_queries(1):  # read on demand: the inspector, a continued reply
        assert loaded.api_requests[0]["model"] == conversation.model
