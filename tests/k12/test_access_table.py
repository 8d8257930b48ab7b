"""The role table (who may do what) over every endpoint of the API: each role, anonymous
included, against each route and method the URL map serves, expecting the table's status.

The table is checked against the URL map itself (``k12.urls.api_patterns``, the router's routes
and the few plain views): a route or a method without an entry here fails
``test_every_route_has_an_entry``, so a new endpoint cannot ship without its row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.urls import URLResolver
from rest_framework_simplejwt.tokens import RefreshToken

from k12 import urls
from k12.models import Allocation, Notification
from sessions_app.models import MessageReport, RecordingStatus, SessionMessage, SessionRecording
from tests.conftest import PASSWORD, ROLES, VIEW_ACCESS, next_slot

ALL_OK = {role: 200 for role in ROLES} | {"anonymous": 401}
PARTICIPANTS = VIEW_ACCESS
CANCELLERS = PARTICIPANTS | {"student_user": 403}
BOOKERS = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 201, "parent": 201}
STAFF = {role: 403 for role in ROLES} | {"anonymous": 401, "admin": 200}
NOBODY = {role: 403 for role in ROLES} | {"anonymous": 401}
MOVERS = BOOKERS | {"admin": 200, "parent": 200}


def only(ok: dict[str, int], default: int = 403) -> dict[str, int]:
    return {role: default for role in ROLES} | {"anonymous": 401} | ok


@dataclass
class Things:
    """What the endpoints act on, beyond the shared world."""

    message: SessionMessage
    recording: SessionRecording
    notification: Notification
    allocation: Allocation
    report: MessageReport


@pytest.fixture
def things(world) -> Things:
    message = SessionMessage.objects.create(session=world.booking, user=world.tutor, seq=1, text="Hello")
    world.booking.last_message_seq = 1
    world.booking.save(update_fields=["last_message_seq"])
    recording = SessionRecording.objects.create(
        session=world.booking,
        uploaded_by=world.tutor,
        file=f"recordings/{world.booking.id}/{uuid.uuid4()}.mp4",
        filename="lesson.mp4",
        file_size_bytes=10,
        content_type="video/mp4",
        status=RecordingStatus.READY,
    )
    notification = Notification.objects.create(user=world.parent, kind="booking_created", title="Booked", body="")
    allocation = Allocation.objects.get(student=world.child, subject=world.math)
    report = MessageReport.objects.create(message=message, reporter=world.parent, reason="other", description="x")
    return Things(message, recording, notification, allocation, report)


def _session_body(w, t, role):
    return {
        "student_id": str(w.child.id),
        "tutor_id": str(w.tutor.id),
        "subject_id": str(w.math.id),
        "starts_at": next_slot(5, 10).isoformat(),
        "duration_minutes": 60,
    }


def _login(w, t, role):
    user = w.user(role)
    return {"email": user.email if user else "nobody@example.test", "password": PASSWORD if user else "wrong-pass"}


def _refresh(w, t, role):
    user = w.user(role)
    return {"refresh": str(RefreshToken.for_user(user)) if user else "not-a-token"}


S = "/api/sessions/{w.booking.id}"
# "METHOD route" (the URL map's slashless route) → (URL, body, expected status per role)
TABLE = {
    "POST auth/token": ("/api/auth/token", _login, {role: 200 for role in ROLES} | {"anonymous": 401}),
    "POST auth/token/refresh": ("/api/auth/token/refresh", _refresh, {r: 200 for r in ROLES} | {"anonymous": 401}),
    "POST auth/logout": ("/api/auth/logout", _refresh, {role: 205 for role in ROLES} | {"anonymous": 401}),
    "GET me": ("/api/me", None, ALL_OK),
    "GET subjects": ("/api/subjects", None, ALL_OK),
    "GET students": ("/api/students", None, ALL_OK),
    "POST students": (
        "/api/students",
        lambda w, t, r: {"first_name": "New", "grade": 3, "parent_id": str(w.parent.id)},
        BOOKERS,
    ),
    "POST students/<str:student_id>/recording-consent": (
        "/api/students/{w.child.id}/recording-consent",
        lambda w, t, r: {"granted": False},
        only({"admin": 200, "parent": 200}),
    ),
    "GET students/<str:student_id>/tutors": (
        "/api/students/{w.child.id}/tutors",
        None,
        only({"admin": 200, "parent": 200, "student_user": 200, "tutor": 200}),
    ),
    "GET sessions": ("/api/sessions", None, ALL_OK),
    "POST sessions": ("/api/sessions", _session_body, BOOKERS),
    "GET sessions/<str:session_id>": (S, None, PARTICIPANTS),
    "POST sessions/<str:session_id>/cancel": (S + "/cancel", lambda w, t, r: {}, CANCELLERS),
    "POST sessions/<str:session_id>/reschedule": (
        S + "/reschedule",
        lambda w, t, r: {"starts_at": next_slot(4, 11).isoformat()},
        MOVERS,
    ),
    "GET sessions/<str:session_id>/messages": (S + "/messages", None, PARTICIPANTS),
    "POST sessions/<str:session_id>/messages": (
        S + "/messages",
        lambda w, t, r: {"text": "hi"},
        {role: 201 if code == 200 else code for role, code in PARTICIPANTS.items()},
    ),
    "POST sessions/<str:session_id>/read": (
        S + "/read",
        lambda w, t, r: {"up_to": str(t.message.id)},
        PARTICIPANTS,
    ),
    "GET sessions/<str:session_id>/recordings": (S + "/recordings", None, PARTICIPANTS),
    # allowed: past the access rule to the body's checks (a JSON body is not an upload)
    "POST sessions/<str:session_id>/recordings": (
        S + "/recordings",
        lambda w, t, r: {},
        only({"admin": 415, "tutor": 415}),
    ),
    # allowed: past the access rule to the storage's answer (local disk: no direct uploads)
    "POST sessions/<str:session_id>/recordings/uploads": (
        S + "/recordings/uploads",
        lambda w, t, r: {"filename": "a.mp4", "content_type": "video/mp4", "size": 10},
        only({"admin": 409, "tutor": 409}),
    ),
    "DELETE sessions/<str:session_id>/recordings/uploads/<str:upload_id>": (
        S + "/recordings/uploads/{t.recording.id}",
        None,
        only({"admin": 409, "tutor": 409}),
    ),
    "POST sessions/<str:session_id>/recordings/uploads/<str:upload_id>/complete": (
        S + "/recordings/uploads/{t.recording.id}/complete",
        lambda w, t, r: {"parts": [{"part_number": 1, "etag": "x"}]},
        only({"admin": 409, "tutor": 409}),
    ),
    "DELETE recordings/<str:recording_id>": (
        "/api/recordings/{t.recording.id}",
        None,
        only({"admin": 204, "tutor": 204}),
    ),
    # the signed link is its own credential: without one, nobody plays it (anonymous included)
    "GET recordings/<str:recording_id>/file": (
        "/api/recordings/{t.recording.id}/file",
        None,
        {role: 403 for role in ROLES},
    ),
    "GET recordings/<str:recording_id>/poster": (
        "/api/recordings/{t.recording.id}/poster",
        None,
        {role: 403 for role in ROLES},
    ),
    "POST messages/<str:message_id>/report": (
        "/api/messages/{t.message.id}/report",
        lambda w, t, r: {"reason": "spam"},
        only({"parent": 409, "student_user": 201, "tutor": 201}),  # the parent already reported it
    ),
    "POST messages/<str:message_id>/hide": ("/api/messages/{t.message.id}/hide", lambda w, t, r: {}, STAFF),
    "POST messages/<str:message_id>/unhide": ("/api/messages/{t.message.id}/unhide", lambda w, t, r: {}, STAFF),
    "GET notifications": ("/api/notifications", None, ALL_OK),
    "POST notifications/<str:notification_id>/read": (
        "/api/notifications/{t.notification.id}/read",
        None,
        only({"parent": 200}),
    ),
    "GET admin/stats": ("/api/admin/stats", None, STAFF),
    "GET admin/students": ("/api/admin/students", None, STAFF),
    "GET admin/tutors": ("/api/admin/tutors", None, STAFF),
    "GET admin/allocations": ("/api/admin/allocations", None, STAFF),
    "POST admin/allocations": (
        "/api/admin/allocations",
        lambda w, t, r: {"studentId": str(w.child.id), "tutorId": str(w.tutor.id), "subjectId": str(w.physics.id)},
        only({"admin": 201}),
    ),
    "POST admin/allocations/<str:allocation_id>/end": ("/api/admin/allocations/{t.allocation.id}/end", None, STAFF),
    "GET admin/reports": ("/api/admin/reports", None, STAFF),
    "POST admin/reports/<str:report_id>/resolve": (
        "/api/admin/reports/{t.report.id}/resolve",
        lambda w, t, r: {"action": "dismiss"},
        STAFF,
    ),
}

IGNORED = {"schema/", "docs/"}  # the OpenAPI document and Swagger UI: public by design


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def _methods(callback) -> list[str]:
    if getattr(callback, "actions", None):  # a viewset's route: the methods it maps (HEAD is GET)
        return sorted(method for method in callback.actions if method != "head")
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]
    return ["get"]  # a plain function view (the signed playback link)


def served() -> set[str]:
    keys = set()
    for route, callback in _routes(urls.api_patterns):
        if route in IGNORED or route.endswith("/"):
            continue
        keys.update(f"{method.upper()} {route}" for method in _methods(callback))
    return keys


def test_every_route_has_an_entry():
    assert served() == set(TABLE)


def test_every_route_also_answers_with_a_trailing_slash():
    slashed = {route for route, _ in _routes(urls.api_patterns) if route.endswith("/")}
    assert {f"{route.rstrip('/')}/" for route in {k.split(" ", 1)[1] for k in TABLE}} <= slashed


CASES = [(name, role) for name in TABLE for role in ROLES]


@pytest.mark.parametrize(("endpoint", "role"), CASES, ids=[f"{e}-{r}" for e, r in CASES])
def test_role_table(world, things, api, endpoint, role):
    url, body, expected = TABLE[endpoint]
    method = endpoint.split(" ", 1)[0].lower()
    client = api(world.user(role))
    data = body(world, things, role) if body else None
    response = getattr(client, method)(url.format(w=world, t=things), data, format="json")
    assert response.status_code == expected[role], response.content


@pytest.mark.parametrize("role", ROLES)
def test_unknown_or_malformed_session_is_404_for_everyone_signed_in(world, api, role):
    client = api(world.user(role))
    for session_id in (uuid.uuid4(), "not-a-uuid", "1' OR '1'='1"):
        for suffix in ("", "/messages", "/recordings"):
            response = client.get(f"/api/sessions/{session_id}{suffix}")
            assert response.status_code == (401 if role == "anonymous" else 404)


def test_paths_work_with_and_without_trailing_slash(world, api):
    client = api(world.parent)
    assert client.get("/api/sessions").status_code == 200
    assert client.get("/api/sessions/").status_code == 200
    assert client.get(f"/api/sessions/{world.booking.id}/").status_code == 200
    assert client.get(f"/api/sessions/{world.booking.id}/messages/").status_code == 200


def test_a_deactivated_user_with_a_valid_token_is_401(world, api):
    client = api(world.parent)
    world.parent.is_active = False
    world.parent.save(update_fields=["is_active"])
    for path in ("/api/subjects", f"/api/sessions/{world.booking.id}/messages", "/api/me"):
        assert client.get(path).status_code == 401


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("admin", {"booking", "other_booking"}),
        ("parent", {"booking"}),
        ("student_user", {"booking"}),
        ("tutor", {"booking"}),
        ("other_parent", {"other_booking"}),
        ("other_tutor", {"other_booking"}),
    ],
)
def test_session_list_is_scoped_to_the_caller(world, api, role, visible):
    response = api(world.user(role)).get("/api/sessions")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()} == {str(getattr(world, name).id) for name in visible}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("admin", {"child", "other_child"}),
        ("parent", {"child"}),
        ("tutor", {"child"}),
        ("student_user", {"child"}),
        ("other_tutor", {"other_child"}),
    ],
)
def test_student_list_is_scoped_to_the_caller(world, api, role, visible):
    response = api(world.user(role)).get("/api/students")
    assert {row["id"] for row in response.json()} == {str(getattr(world, name).id) for name in visible}
