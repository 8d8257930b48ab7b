"""The chat's hot path (sessions_app/message_fastpath.py) answers exactly as the DRF path would,
and declines everything it does not serve."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from sessions_app import message_fastpath, services
from sessions_app.models import SessionMessage
from sessions_app.moderation import message_hide
from sessions_app.services import message_create
from tests.conftest import client_for


def url(booking) -> str:
    return f"/api/sessions/{booking.id}/messages"


@pytest.fixture
def chat(world):
    senders = [world.parent, world.tutor, world.student_user]
    texts = ["plain", "emoji \U0001f44d and CJK \u6f22\u5b57", "<b>markup</b>", "line\u2028separator", '"quoted" \\']
    messages = [
        message_create(booking=world.booking, sender=senders[i % 3], text=f"{texts[i % len(texts)]} {i}")[0]
        for i in range(23)
    ]
    message_hide(message=messages[4], moderator=world.admin, reason="test")
    # names the guide trims: no last name, and spaces around
    world.tutor.first_name, world.tutor.last_name = "  Tom ", ""
    world.tutor.save()
    return messages


def both_ways(client, method: str, path: str, **kwargs):
    """(hot path's response, DRF path's response) for the same request."""
    served = []
    real = message_fastpath.serve

    def spy(*args):
        response = real(*args)
        served.append(response is not None)
        return response

    with mock.patch.object(message_fastpath, "serve", spy):
        fast = getattr(client, method)(path, **kwargs)
    with mock.patch.object(message_fastpath, "serve", return_value=None):
        slow = getattr(client, method)(path, **kwargs)
    return fast, slow, served == [True]


@pytest.mark.parametrize("role", ["parent", "tutor", "student_user", "admin"])
@pytest.mark.parametrize(
    "params",
    [{}, {"limit": "5"}, {"limit": "200"}, {"before": 10, "limit": "4"}, {"after": 3, "limit": "6"}, {"after": 22}],
    ids=["newest", "limit5", "limit200", "before", "after", "after-last"],
)
def test_pages_are_the_same_both_ways(world, chat, role, params):
    query = {k: (str(chat[v].id) if k in ("before", "after") else v) for k, v in params.items()}
    fast, slow, served = both_ways(client_for(world.user(role)), "get", url(world.booking), data=query)
    assert served, "the hot path declined an ordinary page"
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content  # byte for byte: same JSON rendering
    assert fast.headers.get("Link") == slow.headers.get("Link")
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"]
    assert fast.headers.get("Vary") == slow.headers.get("Vary")
    assert fast.headers.get("Allow") == slow.headers.get("Allow")
    body = fast.json()
    hidden = [m for m in body if m["id"] == str(chat[4].id)]
    if hidden:
        assert hidden[0]["hidden"] is True
        assert (hidden[0]["text"] != "") == (role == "admin")


@pytest.mark.parametrize(
    ("who", "path", "query", "status"),
    [
        ("other_parent", None, {}, 403),
        ("other_tutor", None, {}, 403),
        ("anonymous", None, {}, 401),
        ("parent", "unknown", {}, 404),
        ("parent", "malformed", {}, 404),
        ("parent", None, {"limit": "0"}, 400),
        ("parent", None, {"limit": ""}, 400),
        ("parent", None, {"before": "nope"}, 400),
        ("parent", None, {"after": str(uuid.uuid4())}, 400),
        ("parent", None, {"before": "x", "after": "y"}, 400),
    ],
)
def test_what_the_hot_path_declines_gets_the_drf_answer(world, chat, who, path, query, status):
    target = {None: url(world.booking), "unknown": f"/api/sessions/{uuid.uuid4()}/messages"}.get(
        path, "/api/sessions/not-a-uuid/messages"
    )
    fast, slow, served = both_ways(client_for(world.user(who)), "get", target, data=query)
    assert not served
    assert fast.status_code == slow.status_code == status
    assert fast.json() == slow.json()


def test_an_inactive_user_or_a_forged_token_is_declined(world, chat):
    client = client_for(world.parent)
    world.parent.is_active = False
    world.parent.save()
    fast, slow, served = both_ways(client, "get", url(world.booking))
    assert not served and fast.status_code == slow.status_code == 401
    forged = client_for(None)
    forged.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    fast, _, served = both_ways(forged, "get", url(world.booking))
    assert not served and fast.status_code == 401


def test_a_remembered_token_still_expires(world):
    """The hot path remembers tokens it verified, until their expiry and not a moment longer."""
    access = AccessToken.for_user(world.parent)
    access.set_exp(lifetime=timedelta(seconds=2))
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get(url(world.booking)).status_code == 200
    assert client.get(url(world.booking)).status_code == 200  # remembered
    time.sleep(max(0.0, access["exp"] - time.time()) + 0.1)
    fast, slow, served = both_ways(client, "get", url(world.booking))
    assert not served and fast.status_code == slow.status_code == 401


def test_a_message_of_another_session_is_not_a_cursor(world, chat):
    other = message_create(booking=world.other_booking, sender=world.other_parent, text="elsewhere")[0]
    fast, slow, served = both_ways(client_for(world.parent), "get", url(world.booking), data={"after": str(other.id)})
    assert not served and fast.status_code == slow.status_code == 400


@pytest.mark.parametrize("role", ["parent", "student_user", "admin"])
def test_posts_are_the_same_both_ways(world, role):
    client = client_for(world.user(role))
    body = {"text": "  hello \u2028 there \U0001f44d  ", "client_id": str(uuid.uuid4())}
    fast, retry_slow, served = both_ways(client, "post", url(world.booking), data=body, format="json")
    assert served
    assert fast.status_code == 201 and retry_slow.status_code == 200  # the second is the retry
    assert fast.json() == retry_slow.json()
    assert fast.content == retry_slow.content
    other = {"text": "second"}
    fast2, slow2, _ = both_ways(client, "post", url(world.booking), data=other, format="json")
    assert fast2.status_code == slow2.status_code == 201
    a, b = fast2.json(), slow2.json()
    assert {k: v for k, v in a.items() if k not in ("id", "created_at")} == {
        k: v for k, v in b.items() if k not in ("id", "created_at")
    }
    seqs = list(SessionMessage.objects.filter(session=world.booking).order_by("seq").values_list("text", flat=True))
    assert seqs == ["hello \u2028 there \U0001f44d", "second", "second"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": {"text": "   "}, "format": "json"},
        {"data": {"text": 5}, "format": "json"},
        {"data": {"text": "x", "client_id": "nope"}, "format": "json"},
        {"data": '{"text": "x", "n": NaN}', "content_type": "application/json"},
        {"data": "[1]", "content_type": "application/json"},
        {"data": "text=x", "content_type": "application/x-www-form-urlencoded"},
    ],
    ids=["blank", "number", "bad-client-id", "nan", "array", "form"],
)
def test_bad_posts_are_declined_and_get_the_drf_answer(world, kwargs):
    fast, slow, served = both_ways(client_for(world.parent), "post", url(world.booking), **kwargs)
    assert not served
    assert fast.status_code == slow.status_code and fast.status_code in (400, 415)
    assert fast.json() == slow.json()
    assert not SessionMessage.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "headers"),
    [
        ({"data": '\ufeff{"text": "bom"}'.encode(), "content_type": "application/json"}, {}),
        ({"data": {"text": "x" * 70_000}, "format": "json"}, {}),
        ({"data": {"text": "html please"}, "format": "json"}, {"HTTP_ACCEPT": "text/html"}),
        ({"data": {"text": "indented"}, "format": "json"}, {"HTTP_ACCEPT": "application/json; indent=2"}),
    ],
    ids=["utf8-bom", "over-64k", "accept-html", "accept-with-params"],
)
def test_unusual_posts_are_left_to_drf(world, kwargs, headers):
    fast, slow, served = both_ways(client_for(world.parent), "post", url(world.booking), **kwargs, **headers)
    assert not served
    assert fast.status_code == slow.status_code


def test_a_token_is_split_as_simplejwt_splits_it(world):
    """`Bearer<NBSP><token>` is not a Bearer header for simplejwt (it splits on ASCII white space)."""
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer\xa0{AccessToken.for_user(world.parent)}")
    fast, slow, served = both_ways(client, "get", url(world.booking))
    assert not served and fast.status_code == slow.status_code == 401


def test_posting_is_counted_once_per_request_by_either_path(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "message_post": "3/min"},
    }
    client = client_for(world.parent)
    statuses = [client.post(url(world.booking), {"text": f"m{i}"}, format="json") for i in range(5)]
    assert [r.status_code for r in statuses] == [201, 201, 201, 429, 429]
    assert int(statuses[3].headers["Retry-After"]) >= 1
    window = int(time.time() // 60)
    digest = hashlib.sha256(str(world.parent.id).encode()).hexdigest()[:32]
    assert cache.get(f"throttle:message_post:{digest}:{window}") == 5  # not 7: the 429s counted once
    assert SessionMessage.objects.count() == 3


def test_the_one_statement_store_and_the_transaction_store_agree(world, monkeypatch):
    """PostgreSQL stores a message in one statement; other databases in a transaction. Both number
    messages in order and answer a retried client_id with the first message."""
    first, created = message_create(booking=world.booking, sender=world.parent, text="a", client_id=str(uuid.uuid4()))
    assert created and first.seq == 1
    monkeypatch.setattr(services, "_store_one_statement", services._store_in_transaction)
    key = str(uuid.uuid4())
    second, created = message_create(booking=world.booking, sender=world.tutor, text="b", client_id=key)
    again, created_again = message_create(booking=world.booking, sender=world.tutor, text="b", client_id=key)
    assert created and not created_again and again.pk == second.pk and second.seq == 2
    third, _ = message_create(booking=world.booking, sender=world.parent, text="c")
    assert third.seq == 3  # a retry takes no number
    assert third.created_at <= timezone.now()
    monkeypatch.undo()
    retry, created = message_create(booking=world.booking, sender=world.tutor, text="b", client_id=key)
    fourth, _ = message_create(booking=world.booking, sender=world.parent, text="d")
    assert not created and retry.pk == second.pk and fourth.seq == 4  # nor on PostgreSQL
