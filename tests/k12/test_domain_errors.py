"""The domain's refusals (k12.errors) and how each edge tells them: REST with the API's
status codes and bodies, the live protocols with their error codes, the desk by form field, any
other Django page with its status. The services themselves import nothing of DRF (the
``domain-without-drf`` contract in pyproject.toml, checked by tests/test_layers.py)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.urls import path

from admin_app.admin.base import refusal_messages, refusal_text
from k12 import errors
from k12.api import exception_handler
from k12.middleware import DomainErrorMiddleware
from sessions_app.chat.live import live_error

# one of each kind, with what REST answers: (status, body, Retry-After)
REST = [
    (errors.field_error("text", "May not be blank."), 400, {"text": ["May not be blank."]}, None),
    (errors.Forbidden("Access denied to this session."), 403, {"detail": "Access denied to this session."}, None),
    (errors.NotFound("Session not found."), 404, {"detail": "Session not found."}, None),
    (errors.Conflict("The session is already cancelled."), 409, {"detail": "The session is already cancelled."}, None),
    (errors.TooLarge("Recordings are limited to 1 KiB."), 413, {"detail": "Recordings are limited to 1 KiB."}, None),
    (errors.RateLimited(7), 429, {"detail": "Request was throttled. Expected available in 7 seconds."}, "7"),
]
# the error codes the live protocols know (a frame's "code")
LIVE_CODES = {"invalid", "unauthenticated", "forbidden", "not_found", "rate_limited"}


def _kinds(cls=errors.DomainError):
    for sub in cls.__subclasses__():
        yield sub
        yield from _kinds(sub)


def test_each_kind_is_among_the_examples():
    # a kind added to k12.errors without an edge's mapping fails here first
    assert {type(exc) for exc, *_ in REST} == set(_kinds())


@pytest.mark.parametrize(("exc", "status", "body", "retry_after"), REST, ids=lambda v: type(v).__name__)
def test_rest_tells_each_kind_with_the_contracts_status_and_body(exc, status, body, retry_after):
    response = exception_handler(exc, {})

    assert response.status_code == status
    assert json.loads(json.dumps(response.data)) == body
    assert response.headers.get("Retry-After") == retry_after


def test_a_refusal_in_a_real_request_is_the_contracts_404(world, api):
    response = api(world.parent).get("/api/sessions/00000000-0000-0000-0000-000000000000")
    assert (response.status_code, response.json()) == (404, {"detail": "Session not found."})


@pytest.mark.parametrize(
    ("exc", "told"),
    [
        (errors.NotFound("Session not found."), ("not_found", "Session not found.", None)),
        (errors.Forbidden("Access denied to this session."), ("forbidden", "Access denied to this session.", None)),
        (
            errors.field_error("after", "Must be a message id (UUID)."),
            ("invalid", "Invalid request.", {"after": ["Must be a message id (UUID)."]}),
        ),
        (errors.RateLimited(3), ("rate_limited", "Too many requests.", None)),
        # kinds the live protocols have no code for
        (errors.Conflict("Already reported."), ("invalid", "Already reported.", None)),
        (errors.TooLarge("Too big."), ("invalid", "Too big.", None)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_the_live_protocols_tell_each_kind_with_one_of_their_codes(exc, told):
    assert live_error(exc) == told
    assert told[0] in LIVE_CODES


def test_the_desk_puts_bad_input_on_its_fields_and_the_rest_on_the_form():
    invalid = errors.Invalid({"tutor_id": ["Not a tutor."], "starts_at": ["In the past.", "Not available."]})

    assert refusal_messages(invalid) == {"tutor_id": ["Not a tutor."], "starts_at": ["In the past.", "Not available."]}
    assert refusal_messages(errors.Conflict("Already ended.")) == {None: ["Already ended."]}
    assert refusal_text(invalid) == "Not a tutor.; In the past.; Not available."


@pytest.mark.parametrize("path", ["/admin/k12/booking/", "/sessions/x/"])
def test_a_page_tells_not_found_and_forbidden_as_djangos_own(path):
    middleware = DomainErrorMiddleware(lambda request: None)
    request = RequestFactory().get(path)

    with pytest.raises(Http404, match="Session not found."):
        middleware.process_exception(request, errors.NotFound("Session not found."))
    with pytest.raises(PermissionDenied, match="Only staff can hide messages."):
        middleware.process_exception(request, errors.Forbidden("Only staff can hide messages."))
    conflict = middleware.process_exception(request, errors.Conflict("Under legal hold."))
    assert (conflict.status_code, conflict.content) == (409, b"Under legal hold.")
    assert middleware.process_exception(request, ValueError("not a refusal")) is None


def _refusing_page(request, kind: str):
    raise {
        "missing": errors.NotFound("No such thing."),
        "theirs": errors.Forbidden("Not yours."),
        "held": errors.Conflict("Under legal hold."),
    }[kind]


urlpatterns = [path("page/<str:kind>/", _refusing_page)]


@pytest.mark.urls(__name__)
def test_a_refusal_under_a_page_gets_its_status(client):
    assert client.get("/page/missing/").status_code == 404
    assert client.get("/page/theirs/").status_code == 403
    held = client.get("/page/held/")
    assert (held.status_code, held.content) == (409, b"Under legal hold.")
