from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Message
from conversations.services.messages import message_send
from conversations.services.sweeper import generations_sweep_stale
from tests.factories import MessageFactory, chain


def orphan(conversation, *, age_seconds: float, text: str = "partial", status: str = "streaming"):
    (question,) = chain(conversation, ("user", "question"))
    reply = MessageFactory(
        conversation=conversation,
        parent=question,
        role="assistant",
        text=text,
        status=status,
        heartbeat_at=timezone.now() - timedelta(seconds=age_seconds),
    )
    conversation.active_leaf = reply
    conversation.save()
    return reply


@pytest.mark.django_db
def test_a_stale_reply_becomes_interrupted_and_keeps_its_text(conversation, settings):
    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    stale = orphan(conversation, age_seconds=120)
    assert generations_sweep_stale() == 1
    stale.refresh_from_db()
    assert stale.status == Message.Status.INTERRUPTED
    assert stale.text == "partial"
    assert "server stopped" in stale.error_detail


@pytest.mark.django_db
def test_a_reply_with_a_recent_heartbeat_is_left_alone(conversation, settings):
    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    alive = orphan(conversation, age_seconds=5)
    assert generations_sweep_stale() == 0
    alive.refresh_from_db()
    assert alive.status == Message.Status.STREAMING


@pytest.mark.django_db
def test_a_send_after_a_crash_is_not_busy_for_ever(conversation, settings):
    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    stale = orphan(conversation, age_seconds=600, status="pending", text="")
    result = message_send(conversation=conversation, text="are you there?")
    stale.refresh_from_db()
    assert stale.status == Message.Status.INTERRUPTED
    assert result.user_message.parent_id == stale.id


@pytest.mark.django_db
def test_opening_the_page_shows_the_orphan_as_interrupted(logged_in_client, conversation, settings):
    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    stale = orphan(conversation, age_seconds=600)
    content = logged_in_client.get(f"/c/{conversation.uuid}/").content.decode()
    assert '"status": "interrupted"' in content
    stale.refresh_from_db()
    assert stale.status == Message.Status.INTERRUPTED


@pytest.mark.django_db
def test_the_start_up_command_sweeps_every_conversation(conversation, settings, capsys):
    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    orphan(conversation, age_seconds=600)
    call_command("sweep_generations")
    assert "1 orphaned reply marked interrupted" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_running_generation_keeps_its_heartbeat_fresh(conversation, settings):
    """A slow reply is never mistaken for an orphan while its process lives."""
    from conversations.services.generation import generation_start

    settings.CHATSITE_HEARTBEAT_SECONDS = 0.05
    settings.CHATSITE_STREAM_SAVE_SECONDS = 3600  # only the heartbeat writes
    result = await database_sync_to_async(message_send)(
        conversation=conversation, text="[sim:delay=0.4] [sim:words=3] slow"
    )
    task = generation_start(reply=result.assistant_message)
    await asyncio.sleep(0.3)
    first = await database_sync_to_async(Message.objects.get)(pk=result.assistant_message.pk)
    await asyncio.sleep(0.3)
    second = await database_sync_to_async(Message.objects.get)(pk=result.assistant_message.pk)
    await task
    assert first.status == second.status == Message.Status.STREAMING
    assert second.heartbeat_at > first.heartbeat_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_live_generation_whose_reply_was_swept_stops_quietly(
    conversation, settings, simulator
):
    """Swept by mistake (a stalled process came back): it must not overwrite the sweep."""
    from conversations.services.generation import generation_start

    settings.CHATSITE_HEARTBEAT_SECONDS = 0.05
    result = await database_sync_to_async(message_send)(
        conversation=conversation, text="[sim:delay=0.05] [sim:words=200] slow"
    )
    task = generation_start(reply=result.assistant_message)
    await asyncio.sleep(0.3)
    await database_sync_to_async(Message.objects.filter(pk=result.assistant_message.pk).update)(
        status=Message.Status.INTERRUPTED
    )
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
    reply = await database_sync_to_async(Message.objects.get)(pk=result.assistant_message.pk)
    assert reply.status == Message.Status.INTERRUPTED
    assert simulator.aborted_streams == 1


@pytest.mark.django_db
def test_orphans_in_other_conversations_do_not_count_against_the_cap(user, settings):
    from tests.factories import ConversationFactory

    settings.CHATSITE_GENERATION_STALE_SECONDS = 60
    settings.CHATSITE_MAX_CONCURRENT_GENERATIONS = 1
    orphan(ConversationFactory(owner=user), age_seconds=600)
    result = message_send(conversation=ConversationFactory(owner=user), text="hello")
    assert result.created
