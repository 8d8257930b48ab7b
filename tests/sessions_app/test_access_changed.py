"""A change of access acts on open sockets at once: each trigger sends ``access.changed`` on
commit, and each affected socket re-checks now (the periodic re-check is set to an hour here),
leaves the rooms it may no longer see, closes when its user was deactivated, and tells its
client."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from k12 import services
from k12.models import Allocation, Student
from sessions_app.chat.services import message_create
from tests.sessions_app.test_consumer import authed, expect_close, joined

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def slow_periodic_recheck(settings):
    settings.WS_ACCESS_RECHECK_SECONDS = 3600


async def changed(comm, reason: str, session_ids=()) -> dict:
    """The socket's next frame that is not a notification (a trigger may notify the user too)."""
    frame = await comm.receive_json_from(timeout=5)
    while frame["type"] == "notification":
        frame = await comm.receive_json_from(timeout=5)
    assert frame == {"type": "accessChanged", "reason": reason, "sessionIds": [str(s) for s in session_ids]}
    return frame


def atomic(fn):
    """Run ``fn`` in a transaction of its own (as a request does), so on-commit work runs."""

    def run():
        with transaction.atomic():
            return fn()

    return sync_to_async(run)


async def test_ending_an_allocation_tells_the_tutor_and_the_family(world):
    tutor, _ = await joined(world.tutor, world.booking)
    parent = await authed(world.parent)
    student = await authed(world.student_user)
    outsider = await authed(world.other_parent)
    allocation = await sync_to_async(Allocation.objects.get)(student=world.child, tutor=world.tutor)
    await atomic(lambda: services.allocation_end(allocation=allocation, ended_by=world.admin))()
    for comm in (parent, student, tutor):
        await changed(comm, "allocation_ended")
    # scheduled sessions stay: the tutor is still in the room
    await sync_to_async(message_create)(booking=world.booking, sender=world.parent, text="still here")
    assert (await tutor.receive_json_from())["message"]["text"] == "still here"
    assert await outsider.receive_nothing(timeout=0.3)
    for comm in (tutor, parent, student, outsider):
        await comm.disconnect()


async def test_cancelling_a_session_tells_its_participants(world):
    tutor, _ = await joined(world.tutor, world.booking)
    student, _ = await joined(world.student_user, world.booking)
    await atomic(lambda: services.booking_cancel(booking=world.booking, cancelled_by=world.parent))()
    for comm in (student, tutor):
        await changed(comm, "session_cancelled", [world.booking.id])
    for comm in (tutor, student):
        await comm.disconnect()


async def test_a_child_moved_to_another_parent_leaves_the_old_parents_rooms_at_once(world):
    old, _ = await joined(world.parent, world.booking)
    new = await authed(world.other_parent)
    await atomic(
        lambda: services.student_parent_set(student=world.child, changed_by=world.admin, parent=world.other_parent)
    )()
    error = await old.receive_json_from(timeout=5)
    while error["type"] == "notification":
        error = await old.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "forbidden" and error["sessionId"] == str(world.booking.id)
    await changed(old, "parent_changed", [world.booking.id])
    await changed(new, "parent_changed", [world.booking.id])
    await sync_to_async(message_create)(booking=world.booking, sender=world.tutor, text="not for the old parent")
    assert await old.receive_nothing(timeout=0.4)
    # the new parent may join now
    await new.send_json_to({"type": "joinSession", "sessionId": str(world.booking.id)})
    assert (await new.receive_json_from())["type"] == "joined"
    for comm in (old, new):
        await comm.disconnect()


async def test_unlinking_a_childs_login_removes_it_from_the_room_at_once(world):
    student, _ = await joined(world.student_user, world.booking)
    await atomic(lambda: services.student_login_set(student=world.child, changed_by=world.admin, login=None))()
    error = await student.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "forbidden"
    await changed(student, "parent_changed", [world.booking.id])
    await student.disconnect()


async def test_withdrawing_consent_tells_the_family_and_the_tutors(world):
    parent = await authed(world.parent)
    tutor = await authed(world.tutor)
    other_tutor = await authed(world.other_tutor)
    await atomic(lambda: services.recording_consent_set(student=world.child, changed_by=world.parent, granted=False))()
    await changed(parent, "consent_withdrawn")
    await changed(tutor, "consent_withdrawn")
    assert await other_tutor.receive_nothing(timeout=0.3)
    # granting it again is not a loss of access: nothing is sent
    await atomic(lambda: services.recording_consent_set(student=world.child, changed_by=world.parent, granted=True))()
    assert await parent.receive_nothing(timeout=0.3)
    for comm in (parent, tutor, other_tutor):
        await comm.disconnect()


async def test_a_deactivated_user_is_closed_at_once(world):
    tutor, _ = await joined(world.tutor, world.booking)
    second = await authed(world.tutor)
    await atomic(lambda: services.user_set_active(user=world.tutor, changed_by=world.admin, active=False))()
    await expect_close(tutor, 4403)
    await expect_close(second, 4403)


async def test_a_rolled_back_change_announces_nothing(world):
    parent = await authed(world.parent)

    def cancel_then_fail():
        with transaction.atomic():
            services.booking_cancel(booking=world.booking, cancelled_by=world.parent)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await sync_to_async(cancel_then_fail)()
    assert await parent.receive_nothing(timeout=0.4)
    assert (await sync_to_async(Student.objects.get)(pk=world.child.pk)).parent_id == world.parent.id
    await parent.disconnect()
