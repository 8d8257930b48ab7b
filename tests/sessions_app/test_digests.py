"""Missed-message digests: a participant with no socket in the room when messages arrive, who
has not read them 10 minutes later, gets one email with the unread texts (never hidden ones); a
connected participant gets none; reading in time cancels it; at most one per session per hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from k12.models import Notification
from sessions_app.chat import digests, moderation, presence
from sessions_app.chat.services import message_create, read_cursor_advance
from sessions_app.models import SessionMessage
from tests.sessions_app.test_consumer import joined


def send(world, sender, text, capture) -> SessionMessage:
    with capture(execute=True):
        message, _ = message_create(booking=world.booking, sender=sender, text=text)
    return message


def digests_for(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind="messages_missed").order_by("created_at"))


def emails_to(mailoutbox, user) -> list:
    """The digests emailed to ``user`` (staff hiding a message emails the parent too)."""
    return [m for m in mailoutbox if m.to == [user.email] and "unread message" in m.subject]


@pytest.mark.django_db
def test_an_absent_participant_gets_one_email_with_the_unread_texts_and_no_hidden_one(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    first = send(world, world.tutor, "Chapter 3, exercise 4 for Thursday", django_capture_on_commit_callbacks)
    hidden = send(world, world.tutor, "something staff will hide", django_capture_on_commit_callbacks)
    send(world, world.tutor, "Bring the calculator", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        moderation.message_hide(message=hidden, moderator=world.admin, reason="test")
    start = first.created_at
    with django_capture_on_commit_callbacks(execute=True):
        assert digests.digests_send_due(now=start + timedelta(minutes=9)) == 0
        # the parent and the student's login were away; the tutor sent them
        assert digests.digests_send_due(now=start + timedelta(minutes=11)) == 2
        assert digests.digests_send_due(now=start + timedelta(minutes=12)) == 0
    for user in (world.parent, world.student_user):
        [mail] = emails_to(mailoutbox, user)
        assert "Chapter 3, exercise 4 for Thursday" in mail.body and "Bring the calculator" in mail.body
        assert "staff will hide" not in mail.body
        [note] = digests_for(user)
        assert note.title.startswith("2 unread messages in Math")
    assert digests_for(world.tutor) == [] and emails_to(mailoutbox, world.tutor) == []


@pytest.mark.django_db
def test_reading_before_ten_minutes_cancels_it(world, django_capture_on_commit_callbacks):
    message = send(world, world.tutor, "see you soon", django_capture_on_commit_callbacks)
    read_cursor_advance(booking=world.booking, user=world.parent, up_to=str(message.id))
    assert digests.digests_send_due(now=message.created_at + timedelta(minutes=11)) == 1
    assert digests_for(world.parent) == [] and len(digests_for(world.student_user)) == 1


@pytest.mark.django_db
def test_a_connected_participant_gets_none(world, django_capture_on_commit_callbacks):
    presence.joined(world.booking.id, world.parent.id, "socket-1")
    try:
        message = send(world, world.tutor, "hello", django_capture_on_commit_callbacks)
    finally:
        presence.left(world.booking.id, world.parent.id, "socket-1")
    assert digests.digests_send_due(now=message.created_at + timedelta(minutes=11)) == 1
    assert digests_for(world.parent) == [] and len(digests_for(world.student_user)) == 1


@pytest.mark.django_db
def test_at_most_one_per_session_per_hour_and_no_message_twice(world, django_capture_on_commit_callbacks):
    first = send(world, world.tutor, "one", django_capture_on_commit_callbacks)
    t0 = first.created_at
    assert digests.digests_send_due(now=t0 + timedelta(minutes=11)) == 2
    send(world, world.tutor, "two", django_capture_on_commit_callbacks)
    assert digests.digests_send_due(now=t0 + timedelta(minutes=30)) == 0  # postponed to the hour
    assert digests.digests_send_due(now=t0 + timedelta(minutes=70)) == 0
    assert digests.digests_send_due(now=t0 + timedelta(minutes=72)) == 2
    first_mail, second_mail = digests_for(world.parent)
    assert "one" in first_mail.body and "two" not in first_mail.body
    assert second_mail.body.endswith(": two") and ": one" not in second_mail.body


@pytest.mark.django_db(transaction=True)
async def test_a_participant_in_the_room_over_the_websocket_gets_none(world):
    socket, _ = await joined(world.parent, world.booking)
    try:
        message, _ = await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="hi")
    finally:
        await socket.disconnect()
    sent = await sync_to_async(digests.digests_send_due)(now=timezone.now() + timedelta(minutes=11))
    assert sent == 1
    assert await sync_to_async(digests_for)(world.parent) == []
    assert len(await sync_to_async(digests_for)(world.student_user)) == 1


@pytest.mark.django_db
def test_a_message_everyone_is_in_the_room_for_costs_no_digest_statement(
    world, api, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client = api(world.parent)
    for user in (world.student_user, world.tutor):
        presence.joined(world.booking.id, user.id, "socket-1")
    try:
        # the viewer and the session, the message; nothing on commit reaches the database
        with django_assert_num_queries(2), django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/sessions/{world.booking.id}/messages", {"text": "hi"}, format="json")
        assert response.status_code == 201
    finally:
        for user in (world.student_user, world.tutor):
            presence.left(world.booking.id, user.id, "socket-1")
    assert not digests.MessageDigest.objects.exists()


@pytest.mark.django_db
def test_a_message_while_the_absent_ones_digests_are_pending_costs_no_digest_work(
    world, api, monkeypatch, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """A pending digest already covers every message after its first one, so noting the next
    message changes nothing: no presence read, no statement."""
    client = api(world.parent)
    url = f"/api/sessions/{world.booking.id}/messages"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"text": "first"}, format="json").status_code == 201
    reads = []
    real = presence.users_present
    monkeypatch.setattr(presence, "users_present", lambda session_id: reads.append(session_id) or real(session_id))
    # the viewer and the session, the message; nothing on commit reaches the database or presence
    with django_assert_num_queries(2), django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"text": "second"}, format="json").status_code == 201
    assert reads == []
    digest_rows = digests.MessageDigest.objects.filter(session=world.booking).values_list("user_id", "first_seq")
    assert sorted(digest_rows) == sorted([(world.tutor.id, 1), (world.student_user.id, 1)])


@pytest.mark.django_db
def test_a_digest_sent_in_this_process_lets_the_next_message_mark_a_new_one(world, django_capture_on_commit_callbacks):
    first = send(world, world.tutor, "one", django_capture_on_commit_callbacks)
    assert digests.digests_send_due(now=first.created_at + timedelta(minutes=11)) == 2
    second = send(world, world.tutor, "two", django_capture_on_commit_callbacks)
    pending = digests.MessageDigest.objects.filter(session=world.booking, due_at__isnull=False)
    assert sorted(pending.values_list("first_seq", flat=True)) == [second.seq, second.seq]


@pytest.mark.django_db
def test_a_digest_another_process_marked_keeps_its_first_message(world, django_capture_on_commit_callbacks):
    """Rows another server process marked due are kept as they are, and their time is the one
    this process remembers."""
    first = send(world, world.tutor, "one", django_capture_on_commit_callbacks)
    digests.forget_pending()  # as if the first had been noted by another process
    send(world, world.tutor, "two", django_capture_on_commit_callbacks)
    rows = digests.MessageDigest.objects.filter(session=world.booking).values_list("first_seq", "due_at")
    assert sorted(rows) == [(first.seq, first.created_at + digests.DIGEST_DELAY)] * 2
