"""What the live room reads from the database for a socket, whatever its protocol: a join (the
access check and what was missed) and the periodic access re-check, each in as few queries as
the answer needs. A reconnect storm is these reads, a thousand at once."""

from __future__ import annotations

import uuid

import pytest

from k12.errors import Forbidden, Invalid, NotFound
from k12.models import Student, User
from sessions_app.chat import live
from sessions_app.chat.services import message_create

pytestmark = pytest.mark.django_db


def posted(world, n: int, booking=None) -> list:
    booking = booking or world.booking
    return [message_create(booking=booking, sender=world.tutor, text=f"m{i}")[0] for i in range(n)]


def texts(missed: list[dict]) -> list[str]:
    return [item["payload"]["text"] for item in missed]


def test_a_join_with_after_is_one_query(world, django_assert_num_queries):
    created = posted(world, 5)
    with django_assert_num_queries(1):
        missed, delivered, has_more = live.join_read(world.parent, str(world.booking.id), str(created[1].id))
    assert texts(missed) == ["m2", "m3", "m4"]
    assert [item["seq"] for item in missed] == [m.seq for m in created[2:]]
    assert delivered == created[-1].seq
    assert has_more is False


def test_a_first_join_is_one_query_and_gives_the_newest_page(world, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(live, "MISSED_LIMIT", 3)
    created = posted(world, 5)
    with django_assert_num_queries(1):
        missed, delivered, has_more = live.join_read(world.student_user, str(world.booking.id), None)
    assert texts(missed) == ["m2", "m3", "m4"]
    assert delivered == created[-1].seq
    assert has_more is False


def test_a_join_of_an_empty_room_is_one_query(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert live.join_read(world.admin, str(world.booking.id), None) == ([], 0, False)


def test_a_long_gap_gives_a_page_and_the_newest_seq(world, django_assert_num_queries, monkeypatch):
    # more missed than one page: the rest is REST's to page; live frames go on from the newest
    monkeypatch.setattr(live, "MISSED_LIMIT", 2)
    created = posted(world, 6)
    with django_assert_num_queries(1):
        missed, delivered, has_more = live.join_read(world.parent, str(world.booking.id), str(created[0].id))
    assert texts(missed) == ["m1", "m2"]
    assert delivered == created[-1].seq
    assert has_more is True


def test_staff_get_hidden_text_in_what_was_missed_and_others_do_not(world):
    from django.utils import timezone

    created = posted(world, 3)
    created[1].hidden_at = timezone.now()
    created[1].save(update_fields=["hidden_at"])
    after = str(created[0].id)
    missed, _, _ = live.join_read(world.parent, str(world.booking.id), after)
    assert [(i["payload"]["text"], i["payload"]["hidden"]) for i in missed] == [("", True), ("m2", False)]
    missed, _, _ = live.join_read(world.admin, str(world.booking.id), after)
    assert [(i["payload"]["text"], i["payload"]["hidden"]) for i in missed] == [("m1", True), ("m2", False)]


@pytest.mark.parametrize("role", ["other_parent", "other_student_user", "other_tutor"])
def test_an_outsider_is_refused_in_one_query(world, role, django_assert_num_queries):
    created = posted(world, 2)
    with django_assert_num_queries(1), pytest.raises(Forbidden):
        live.join_read(getattr(world, role), str(world.booking.id), str(created[0].id))


def test_an_unknown_session_is_not_found(world):
    with pytest.raises(NotFound):
        live.join_read(world.parent, str(uuid.uuid4()), None)


def test_a_cursor_must_be_a_message_of_the_session(world):
    mine = posted(world, 1)[0]
    elsewhere = message_create(booking=world.other_booking, sender=world.other_tutor, text="x")[0]
    for after, error in [
        ("nope", "Must be a message id (UUID)."),
        (str(uuid.uuid4()), "No such message in this session."),
        (str(elsewhere.id), "No such message in this session."),
    ]:
        with pytest.raises(Invalid) as raised:
            live.join_read(world.parent, str(world.booking.id), after)
        assert raised.value.errors == {"after": [error]}
    # the newest message is a good cursor: nothing missed
    assert live.join_read(world.parent, str(world.booking.id), str(mine.id)) == ([], mine.seq, False)


def test_access_is_decided_before_the_cursor(world):
    # an outsider learns nothing about the session's messages from the cursor's error
    with pytest.raises(Forbidden):
        live.join_read(world.other_parent, str(world.booking.id), "nope")
    with pytest.raises(Forbidden):
        live.join_read(world.other_parent, str(world.booking.id), str(uuid.uuid4()))


def test_a_recheck_is_one_query_per_room(world, django_assert_num_queries):
    rooms = [str(world.booking.id)]
    with django_assert_num_queries(1):
        user, lost = live.recheck_read(world.parent.id, rooms)
    assert (user, lost) == (world.parent, [])
    with django_assert_num_queries(1):
        assert live.recheck_read(world.parent.id, []) == (world.parent, [])


def test_a_recheck_finds_the_rooms_lost_and_the_user_as_now_stored(world):
    rooms = [str(world.booking.id), str(world.other_booking.id)]
    Student.objects.filter(pk=world.child.pk).update(user=None)  # the child's login is unlinked
    User.objects.filter(pk=world.student_user.pk).update(first_name="Samuel")
    user, lost = live.recheck_read(world.student_user.id, rooms)
    assert user.first_name == "Samuel"
    assert lost == rooms


@pytest.mark.parametrize("rooms", [[], ["booking"]])
def test_a_recheck_of_a_deactivated_or_deleted_user_finds_no_user(world, rooms):
    rooms = [str(world.booking.id) for _ in rooms]
    User.objects.filter(pk=world.tutor.pk).update(is_active=False)
    assert live.recheck_read(world.tutor.id, rooms) == (None, [])
    assert live.recheck_read(uuid.uuid4(), rooms) == (None, [])
