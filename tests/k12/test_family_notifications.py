"""Parents (and the child's own login) hear about what concerns their child: a session booked,
moved or cancelled, and a message staff hid in the child's session. Each is an in-app row, a live
push and an email (the notification service)."""

from __future__ import annotations

from k12 import services
from k12.models import Booking, Notification
from sessions_app.chat.moderation import message_hide
from sessions_app.chat.services import message_create
from tests.conftest import next_slot


def kinds_for(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("created_at").values_list("kind", flat=True))


def test_a_moved_session_notifies_the_family_and_the_tutor_with_the_old_time(
    world, api, mailoutbox, django_capture_on_commit_callbacks
):
    old = world.booking.starts_at
    new = next_slot(4, 11)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.parent).post(
            f"/api/sessions/{world.booking.id}/reschedule", {"starts_at": new.isoformat()}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["starts_at"].startswith(new.strftime("%Y-%m-%dT%H:%M"))
    booking = Booking.objects.get(pk=world.booking.pk)
    assert booking.starts_at == new and booking.duration_minutes == 60
    for person in (world.parent, world.student_user, world.tutor):
        note = Notification.objects.get(user=person, kind="booking_moved")
        assert note.data["sessionId"] == str(booking.id) and note.data["previousStartsAt"].startswith(
            old.strftime("%Y-%m-%dT%H:%M")
        )
        assert old.strftime("%Y-%m-%d %H:%M") in note.body and new.strftime("%Y-%m-%d %H:%M") in note.body
    assert not Notification.objects.filter(user__in=[world.other_parent, world.admin]).exists()
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        p.email for p in (world.parent, world.student_user, world.tutor)
    )


def test_moving_follows_the_booking_rules(world, api):
    client = api(world.parent)
    url = f"/api/sessions/{world.booking.id}/reschedule"
    # into another session of the same student: 409; the session's own slot is not a clash
    other = services.booking_create(
        created_by=world.admin,
        student=world.child,
        tutor=world.tutor,
        subject=world.math,
        starts_at=next_slot(5, 10),
        duration_minutes=60,
    )
    assert client.post(url, {"starts_at": other.starts_at.isoformat()}, format="json").status_code == 409
    shifted = world.booking.starts_at.replace(minute=30)
    assert client.post(url, {"starts_at": shifted.isoformat()}, format="json").status_code == 200
    # outside the tutor's hours, in the past, a bad length, no body: 400 on the field
    for body, field in (
        ({"starts_at": next_slot(4, 22).isoformat()}, "starts_at"),
        ({"starts_at": next_slot(-2, 10).isoformat()}, "starts_at"),
        ({"starts_at": next_slot(4, 10).isoformat(), "duration_minutes": 5}, "duration_minutes"),
        ({}, "starts_at"),
    ):
        response = client.post(url, body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.content)
    services.booking_cancel(booking=world.booking, cancelled_by=world.parent)
    assert client.post(url, {"starts_at": next_slot(4, 11).isoformat()}, format="json").status_code == 409


def test_a_hidden_message_notifies_the_family_but_never_says_what_it_was(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    message = message_create(booking=world.booking, sender=world.tutor, text="something unkind")[0]
    with django_capture_on_commit_callbacks(execute=True):
        message_hide(message=message, moderator=world.admin)
        message_hide(message=message, moderator=world.admin)  # twice: told once
    for person in (world.parent, world.student_user):
        note = Notification.objects.get(user=person, kind="message_hidden")
        assert note.data == {"sessionId": str(world.booking.id), "messageId": str(message.id)}
        assert "unkind" not in note.title + note.body
    assert kinds_for(world.tutor) == [] and kinds_for(world.other_parent) == []
    assert sorted(m.to[0] for m in mailoutbox) == sorted([world.parent.email, world.student_user.email])
    assert all("unkind" not in m.body for m in mailoutbox)


def test_hiding_from_the_report_queue_notifies_the_family(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message_create(booking=world.booking, sender=world.tutor, text="snap: tom_t")
    from sessions_app.models import MessageReport

    report = MessageReport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        api(world.admin).post(f"/api/admin/reports/{report.id}/resolve", {"action": "hide"}, format="json")
    assert kinds_for(world.parent) == ["message_hidden"] and kinds_for(world.student_user) == ["message_hidden"]


def test_a_deactivated_login_is_not_notified(world, django_capture_on_commit_callbacks):
    services.user_set_active(user=world.student_user, changed_by=world.admin, active=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=world.booking, cancelled_by=world.parent)
    assert kinds_for(world.student_user) == []
    assert kinds_for(world.parent) == ["booking_cancelled"]
