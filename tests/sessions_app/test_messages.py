"""REST chat: access, validation, idempotency, pagination, broadcast, query counts."""

from __future__ import annotations

import json
import re
import threading
import uuid
from unittest import mock

import pytest
from django.db import connection

from sessions_app.chat.services import MAX_MESSAGE_LENGTH, message_create
from sessions_app.models import SessionMessage
from tests.conftest import ROLES, VIEW_ACCESS, client_for

ACCESS = VIEW_ACCESS


def url(booking) -> str:
    return f"/api/sessions/{booking.id}/messages"


def links(response) -> dict[str, str]:
    return {rel: href for href, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


@pytest.mark.parametrize("role", ROLES)
def test_get_and_post_follow_the_role_table(world, api, role):
    client = api(world.user(role))
    assert client.get(url(world.booking)).status_code == ACCESS[role]
    response = client.post(url(world.booking), {"text": "hi"}, format="json")
    expected = 201 if ACCESS[role] == 200 else ACCESS[role]
    assert response.status_code == expected
    assert SessionMessage.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize("session_id", [uuid.uuid4(), "nope", "1;DROP TABLE x", "%00"])
def test_unknown_or_malformed_session_is_404(world, api, session_id):
    client = api(world.parent)
    assert client.get(f"/api/sessions/{session_id}/messages").status_code == 404
    assert client.post(f"/api/sessions/{session_id}/messages", {"text": "x"}, format="json").status_code == 404


def test_post_returns_the_message_shape_and_get_lists_oldest_first(world, api):
    client = api(world.tutor)
    created = client.post(url(world.booking), {"text": "  Hello Sam  "}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "from", "user_id", "text", "created_at", "hidden"}
    assert body["hidden"] is False
    assert body["from"] == "Tom"  # last name empty: `${first} ${last || ''}`.trim()
    assert body["text"] == "Hello Sam" and body["user_id"] == str(world.tutor.id)
    assert body["created_at"].endswith("Z")
    api(world.parent).post(url(world.booking), {"text": "Hi Tom"}, format="json")
    listed = client.get(url(world.booking)).json()
    assert [m["text"] for m in listed] == ["Hello Sam", "Hi Tom"]
    assert listed[1]["from"] == "Paula Parker"
    assert listed[0] == body


BAD_TEXT = [
    ("missing", {}),
    ("null", {"text": None}),
    ("blank", {"text": ""}),
    ("whitespace", {"text": " \n\t "}),
    ("number", {"text": 42}),
    ("bool", {"text": True}),
    ("object", {"text": {"a": 1}}),
    ("list", {"text": ["a"]}),
    ("too long", {"text": "x" * (MAX_MESSAGE_LENGTH + 1)}),
    ("nul", {"text": "a\x00b"}),
    ("bad client_id", {"text": "ok", "client_id": "not-a-uuid"}),
    ("numeric client_id", {"text": "ok", "client_id": 7}),
]


@pytest.mark.parametrize(("name", "body"), BAD_TEXT, ids=[n for n, _ in BAD_TEXT])
def test_bad_input_is_400_with_a_field_error(world, api, name, body):
    response = api(world.parent).post(url(world.booking), body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) & {"text", "client_id"}
    assert SessionMessage.objects.count() == 0


@pytest.mark.parametrize("raw", [b"{oops", b"[]", b'"text"', b"null"])
def test_malformed_json_is_400(world, api, raw):
    response = api(world.parent).generic("POST", url(world.booking), raw, content_type="application/json")
    assert response.status_code == 400
    assert SessionMessage.objects.count() == 0


def test_lone_surrogate_is_400_not_500(world, api):
    raw = b'{"text": "bad \\ud800 surrogate"}'
    response = api(world.parent).generic("POST", url(world.booking), raw, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "text",
    [
        "x" * MAX_MESSAGE_LENGTH,
        "Emoji 🎉👩‍🏫 and CJK 数学の宿題",
        "<script>alert('x')</script> & <b>bold</b>",
        "line\nbreak",
    ],
)
def test_text_round_trips_verbatim(world, api, text):
    client = api(world.parent)
    assert client.post(url(world.booking), {"text": text}, format="json").json()["text"] == text
    assert client.get(url(world.booking)).json()[-1]["text"] == text


def test_same_client_id_is_one_message(world, api, django_capture_on_commit_callbacks):
    client = api(world.parent)
    key = str(uuid.uuid4())
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = client.post(url(world.booking), {"text": "once", "client_id": key}, format="json")
    with django_capture_on_commit_callbacks() as retry_callbacks:
        retry = client.post(url(world.booking), {"text": "once (retry)", "client_id": key}, format="json")
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.json() == first.json()
    assert len(first_callbacks) == 1 and len(retry_callbacks) == 0
    # another user with the same key is another message
    other = api(world.tutor).post(url(world.booking), {"text": "mine", "client_id": key}, format="json")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert SessionMessage.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_client_id_make_one_row(world):
    key = str(uuid.uuid4())
    barrier = threading.Barrier(4)
    results = []

    def post():
        client = client_for(world.parent)
        barrier.wait()
        try:
            r = client.post(url(world.booking), {"text": "race", "client_id": key}, format="json")
            results.append((r.status_code, r.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [200, 200, 200, 201]
    assert len({mid for _, mid in results}) == 1
    assert SessionMessage.objects.filter(client_id=key).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_distinct_consecutive_positions(world):
    barrier = threading.Barrier(4)

    def post(i):
        client = client_for(world.parent)
        barrier.wait()
        try:
            for j in range(5):
                assert client.post(url(world.booking), {"text": f"{i}-{j}"}, format="json").status_code == 201
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = sorted(SessionMessage.objects.filter(session=world.booking).values_list("seq", flat=True))
    assert seqs == list(range(1, 21))


def _fill(world, n):
    senders = [world.parent, world.tutor, world.student_user]
    for i in range(n):
        message_create(booking=world.booking, sender=senders[i % 3], text=f"m{i}")


def test_walk_the_whole_history_backwards_by_link_and_forwards_by_after(world, api):
    _fill(world, 257)
    # the same created_at for many messages must not break the order
    SessionMessage.objects.filter(seq__lte=150).update(created_at=SessionMessage.objects.get(seq=1).created_at)
    client = api(world.student_user)
    seen = []
    response = client.get(url(world.booking), {"limit": 50})
    assert "next" not in links(response)
    while True:
        seen = [m["text"] for m in response.json()] + seen
        prev = links(response).get("prev")
        if not prev:
            break
        response = client.get(prev)
    assert seen == [f"m{i}" for i in range(257)]

    forward = []
    first = client.get(url(world.booking), {"limit": 1})
    # start at the oldest by walking `after` from the first message
    oldest = SessionMessage.objects.get(session=world.booking, seq=1)
    forward.append("m0")
    after = str(oldest.id)
    while True:
        page = client.get(url(world.booking), {"after": after, "limit": 40})
        items = page.json()
        forward += [m["text"] for m in items]
        if "next" not in links(page):
            break
        after = items[-1]["id"]
    assert forward == [f"m{i}" for i in range(257)]
    assert first.json()[0]["text"] == "m256"


def test_default_and_max_limits(world, api):
    _fill(world, 230)
    client = api(world.parent)
    assert len(client.get(url(world.booking)).json()) == 100
    assert len(client.get(url(world.booking), {"limit": 200}).json()) == 200
    for bad in ("0", "201", "-1", "ten", "1.5"):
        response = client.get(url(world.booking), {"limit": bad})
        assert response.status_code == 400 and "limit" in response.json()


def test_bad_cursors_are_400(world, api):
    _fill(world, 3)
    other = message_create(booking=world.other_booking, sender=world.other_parent, text="elsewhere")[0]
    client = api(world.parent)
    some = str(SessionMessage.objects.filter(session=world.booking).first().id)
    for params in (
        {"before": "garbage"},
        {"after": "garbage"},
        {"after": str(uuid.uuid4())},
        {"before": str(other.id)},  # a message of another session is unknown here
        {"before": some, "after": some},
    ):
        response = client.get(url(world.booking), params)
        assert response.status_code == 400, params
        assert set(response.json()) & {"before", "after"}


@pytest.mark.parametrize("size", [1, 200])
def test_get_query_count_is_constant(world, api, django_assert_num_queries, size):
    _fill(world, size)
    client = api(world.parent)
    # the viewer and the session in one query, then the page (the cursor's position inside it)
    with django_assert_num_queries(2):
        assert len(client.get(url(world.booking), {"limit": 200}).json()) == size
    oldest = SessionMessage.objects.get(session=world.booking, seq=1)
    # an empty page asks once more whether its cursor is a message of the session at all
    with django_assert_num_queries(2 if size > 1 else 3):
        assert len(client.get(url(world.booking), {"after": str(oldest.id), "limit": 200}).json()) == size - 1


@pytest.mark.parametrize("history", [0, 200])
def test_post_query_count_is_constant(world, api, django_assert_num_queries, history):
    _fill(world, history)
    client = api(world.parent)
    # the viewer and the session, then one statement that numbers and stores the message (no
    # transaction block: a single statement is atomic on its own)
    with django_assert_num_queries(2):
        assert client.post(url(world.booking), {"text": "x"}, format="json").status_code == 201
    body = {"text": "x", "client_id": str(uuid.uuid4())}
    with django_assert_num_queries(2):
        assert client.post(url(world.booking), body, format="json").status_code == 201
    # a retry: plus the lookup of the first message
    with django_assert_num_queries(3):
        assert client.post(url(world.booking), body, format="json").status_code == 200


def test_broadcast_goes_to_the_session_room_once_on_commit(world, api, django_capture_on_commit_callbacks):
    sent = []

    class Layer:
        async def group_send(self, group, message):
            sent.append((group, message))

    with mock.patch("k12.realtime.get_channel_layer", return_value=Layer()):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = api(world.parent).post(url(world.booking), {"text": "live"}, format="json")
        assert sent == []  # nothing before commit
        for callback in callbacks:
            callback()
    assert len(sent) == 1
    group, message = sent[0]
    assert group == f"session-{world.booking.id}"
    frame = json.loads(message["frame"])
    assert frame == {"type": "newMessage", "sessionId": str(world.booking.id), "message": response.json()}


def test_a_failing_channel_layer_does_not_lose_or_fail_the_message(
    world, api, caplog, django_capture_on_commit_callbacks
):
    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    with mock.patch("k12.realtime.get_channel_layer", return_value=Broken()):
        with caplog.at_level("ERROR"), django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = api(world.parent).post(url(world.booking), {"text": "kept"}, format="json")
    assert len(callbacks) == 1
    assert response.status_code == 201
    assert SessionMessage.objects.get(pk=response.json()["id"]).text == "kept"
    assert "broadcast of message" in caplog.text


def test_pages_have_one_index_to_choose(db):
    """Only the unique (session_id, seq) index leads with session_id: a second, single-column
    one lured the planner (with statistics older than a session's growth) into reading and
    sorting the whole session instead of a backward range scan (bench/messages.py)."""
    if connection.vendor != "postgresql":
        pytest.fail("this check reads PostgreSQL's catalog; run it with DATABASE_URL (make test does)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'sessions_app_sessionmessage'")
        definitions = [row[0] for row in cursor.fetchall()]
    leading_session = [d for d in definitions if "(session_id" in d]
    assert len(leading_session) == 2, definitions  # the unique (session_id, seq) and client_id ones
    assert not [d for d in definitions if d.endswith("(session_id)")], definitions
    # and the default ordering is by the columns, not by the session (which would join and sort)
    assert "k12_booking" not in str(SessionMessage.objects.all().query)
