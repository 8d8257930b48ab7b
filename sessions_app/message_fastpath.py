"""The chat's hot path: GET/POST /api/sessions/{id}/messages for a valid Bearer token, served
without DRF's request machinery (issue 3: at least 1.5x the guide's backend in requests/s).

It only ever *succeeds*. It answers when the request is well formed, the token is a valid
access token of an active user, the user may read (GET) or write to (POST) the session and
the parameters are valid; in every other case it returns ``None`` before doing anything, and
``SessionMessagesView`` serves the request the full DRF way, which produces the contract's
401/403/404/400/415 answers. What it does is the same as the DRF path, through the same code:

- the token is checked by simplejwt's own ``JWTAuthentication.get_validated_token``;
- the access decision is ``k12.permissions`` (``can_view_booking`` / ``can_send_message``),
  asked about a session and a viewer read in one query (JWTAuthentication's user load and
  ``access_booking``'s fetch, together, with the cursor's position when there is one);
- the page is ``selectors.wire_page`` (the same range scan as ``messages_page``), rendered by
  ``payloads.wire_payload`` (the same fields as ``message_payload``);
- a message is stored by ``services.message_create``, the one write path;
- the per-user posting limit is counted here once; over it, the DRF path answers 429
  (``SessionMessagesView.check_throttles`` reuses the verdict instead of counting again);
- JSON is rendered by DRF's ``JSONRenderer`` and parsed as its ``JSONParser`` parses it, and
  the response carries the view's ``default_response_headers``.

tests/sessions_app/test_message_fastpath.py holds both paths to the same answers.
"""

from __future__ import annotations

import time

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.utils import json as drf_json
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from k12 import permissions, throttling
from k12.models import Booking, Student, User
from k12.pagination import cursor_links, parse_limit
from sessions_app import selectors, services
from sessions_app.models import SessionMessage
from sessions_app.payloads import message_payload, wire_payload

THROTTLE_VERDICT = "k12_message_throttle_verdict"  # request attribute read by SessionMessagesView

_jwt = JWTAuthentication()


def _viewer_sql() -> str:
    users, bookings, students = User._meta.db_table, Booking._meta.db_table, Student._meta.db_table
    messages = SessionMessage._meta.db_table
    return (
        "SELECT u.role, u.is_active, u.first_name, u.last_name, "  # noqa: S608
        "b.id, b.tutor_id, b.student_id, s.parent_id, s.user_id, "
        f"(SELECT m.seq FROM {messages} m WHERE m.session_id = b.id AND m.id = %s) "
        f"FROM {users} u LEFT JOIN {bookings} b ON b.id = %s LEFT JOIN {students} s ON s.id = b.student_id "
        "WHERE u.id = %s"
    )


_VIEWER_SQL = _viewer_sql()


# Access tokens this process has verified: raw token → (user id, expiry). A token's signature
# and claims never change, and access tokens are not revocable before they expire (logout
# blacklists the refresh token), so a verified token stays valid until its `exp`; a client
# sends the same token for its whole 5 minutes. Bounded: cleared when full.
_verified: dict[bytes, tuple[object, float]] = {}
VERIFIED_TOKENS_MAX = 4096


def _bearer_user_id(request: HttpRequest):
    """The user id of a valid access token in ``Authorization: Bearer``, else None."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    try:  # split as simplejwt does: bytes, on ASCII white space only
        parts = header.encode("iso-8859-1").split()
    except UnicodeEncodeError:
        return None
    if len(parts) != 2 or parts[0].decode() not in jwt_settings.AUTH_HEADER_TYPES:
        return None
    raw = parts[1]
    known = _verified.get(raw)
    if known is not None and time.time() < known[1]:
        return known[0]
    try:
        token = _jwt.get_validated_token(raw)
    except (InvalidToken, TokenError):
        _verified.pop(raw, None)
        return None
    user_id = token.get(jwt_settings.USER_ID_CLAIM)
    user_id = permissions.parse_uuid(user_id) if user_id is not None else None
    if user_id is not None and not getattr(jwt_settings, "CHECK_REVOKE_TOKEN", False):
        # (with CHECK_REVOKE_TOKEN a password change revokes tokens early: nothing is remembered)
        if len(_verified) >= VERIFIED_TOKENS_MAX:
            _verified.clear()
        _verified[raw] = (user_id, float(token["exp"]))
    return user_id


def _viewer_and_session(user_id, session_id, cursor_id=None):
    """``(user, booking, cursor_seq)`` when the token's user exists and is active and the
    session exists; else None. One query; the objects carry only what the access rule reads."""
    with connection.cursor() as cursor:
        cursor.execute(_VIEWER_SQL, [cursor_id, session_id, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    role, is_active, first_name, last_name, booking_id, tutor_id, student_id, parent_id, student_user_id, seq = row
    if not is_active or booking_id is None:
        return None  # DRF: 401 "User is inactive"; access_booking: 404
    user = User(id=user_id, role=role, is_active=True, first_name=first_name, last_name=last_name)
    booking = Booking(id=booking_id, tutor_id=tutor_id, student_id=student_id)
    booking.student = Student(id=student_id, parent_id=parent_id, user_id=student_user_id)
    return user, booking, seq


_renderer = JSONRenderer()


def _json(data, headers: dict, status: int = 200) -> HttpResponse:
    """Rendered by DRF's JSONRenderer, with the view's default headers (Allow, and Vary when the
    browsable API is on): what the DRF path sends."""
    return HttpResponse(_renderer.render(data), status=status, content_type=_renderer.media_type, headers=headers)


# What DRF's content negotiation would answer with JSON for; anything else (text/html for the
# browsable API, a media type with parameters, 406 cases) is DRF's to answer.
_JSON_ACCEPTS = {"", "*/*", "application/json", "application/*"}
MAX_BODY_BYTES = 64 * 1024  # a message is at most 2,000 characters


def serve(request: HttpRequest, session_id: str, headers: dict) -> HttpResponse | None:
    """The response for an ordinary request, or None: DRF answers. ``headers``: the view's
    ``default_response_headers``."""
    if connection.vendor != "postgresql":
        return None  # wire_page and the one-statement insert are PostgreSQL's
    if request.META.get("HTTP_ACCEPT", "").strip() not in _JSON_ACCEPTS:
        return None
    if request.method == "GET":
        return _get(request, session_id, headers)
    if request.method == "POST":
        return _post(request, session_id, headers)
    return None


def _get(request: HttpRequest, session_id: str, headers: dict) -> HttpResponse | None:
    params = request.GET
    if set(params) - {"limit", "before", "after"}:
        return None
    before, after = params.get("before"), params.get("after")
    if before is not None and after is not None:
        return None
    try:
        limit = parse_limit(params.get("limit"))
    except ValidationError:
        return None
    cursor_id = None
    if before is not None or after is not None:
        cursor_id = permissions.parse_uuid(before if before is not None else after)
        if cursor_id is None:
            return None
    session_pk = permissions.parse_uuid(session_id)
    user_id = _bearer_user_id(request)
    if session_pk is None or user_id is None:
        return None
    found = _viewer_and_session(user_id, session_pk, cursor_id)
    if found is None:
        return None
    user, booking, cursor_seq = found
    if not permissions.can_view_booking(user, booking):
        return None
    if cursor_id is not None and cursor_seq is None:
        return None  # not a message of this session: the DRF path's 400
    rows, has_older, has_newer = selectors.wire_page(
        session_pk,
        before_seq=cursor_seq if before is not None else None,
        after_seq=cursor_seq if after is not None else None,
        limit=limit,
    )
    staff = permissions.is_admin(user)
    response = _json([wire_payload(row, staff=staff) for row in rows], headers)
    if rows:
        link = cursor_links(
            request, first_id=rows[0][0], last_id=rows[-1][0], has_older=has_older, has_newer=has_newer, limit=limit
        )
        if link:
            response["Link"] = link
    return response


def _post(request: HttpRequest, session_id: str, headers: dict) -> HttpResponse | None:
    if request.content_type != "application/json" or request.content_params.get("charset", "utf-8").lower() != "utf-8":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY_BYTES:
        return None
    session_pk = permissions.parse_uuid(session_id)
    user_id = _bearer_user_id(request)  # before reading the body: nobody's JSON is parsed for free
    if session_pk is None or user_id is None:
        return None
    try:
        body = drf_json.loads(request.body.decode("utf-8"))  # DRF's strict JSON, as its JSONParser
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    try:
        services.validate_message_text(body.get("text"))
        services.validate_client_id(body.get("client_id"))
    except ValidationError:
        return None
    found = _viewer_and_session(user_id, session_pk)
    if found is None:
        return None
    user, booking, _ = found
    if not permissions.can_send_message(user, booking):
        return None
    request.user = user
    throttle = throttling.MessagePostThrottle()
    allowed = throttle.allow_request(request, None)
    setattr(request, THROTTLE_VERDICT, (allowed, throttle.wait() if not allowed else None))
    if not allowed:
        return None  # counted once here; the DRF path answers 429 from the verdict
    try:
        message, created = services.message_create(
            booking=booking, sender=user, text=body.get("text"), client_id=body.get("client_id")
        )
    except Http404:
        return None  # deleted meanwhile, nothing stored: the DRF path's 404
    return _json(message_payload(message, staff=permissions.is_admin(user)), headers, status=201 if created else 200)
