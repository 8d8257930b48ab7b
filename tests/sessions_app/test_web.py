"""The built-in web client's pages (sessions_app/web/views.py): login and logout, who may open which
page, and the API paths the pages' JavaScript relies on with a browser session (cookie + the
CSRF header), the recording upload included. The client itself runs in a real browser in
tests/e2e/test_web_client.py."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from sessions_app.chat import moderation, services
from tests.conftest import PASSWORD
from tests.sessions_app.conftest import post_parts, url
from tests.sessions_app.test_recordings import UnreadableBody

ROOM_ROLES = {
    "parent": 200,
    "student_user": 200,
    "tutor": 200,
    "admin": 200,
    "other_parent": 403,
    "other_student_user": 403,
    "other_tutor": 403,
}


def browser(user=None) -> Client:
    """A client that enforces CSRF the way a browser meets it."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def csrf_token(client: Client, world) -> str:
    """What the page's <meta name="csrf-token"> carries (and the cookie it goes with)."""
    client.get(f"/sessions/{world.booking.id}/")
    return client.cookies["csrftoken"].value


def log_in(client: Client, email: str, password: str = PASSWORD, **extra):
    client.get("/login/")
    form = {"username": email, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    return client.post("/login/", {**form, **extra})


# --- Pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/sessions/{id}/"])
def test_pages_send_anonymous_visitors_to_the_login_page(world, path):
    path = path.format(id=world.booking.id)
    response = browser().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_login_page_is_a_labelled_form_with_local_assets(db):
    response = browser().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">Email</label>' in html
    assert 'type="email"' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'href="/static/web/style.css"' in html
    assert 'src="/static/web/app.js"' in html
    assert "<main" in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere


def test_log_in_with_email_and_password_then_out(world):
    client = browser()
    response = log_in(client, world.parent.email)
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert 'id="sessions-page"' in page.content.decode()
    assert client.get("/api/me").json()["email"] == world.parent.email  # the session works on the API

    response = client.post("/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302
    assert client.get("/api/me").status_code == 401


def test_logout_is_a_post_only(world):
    client = browser(world.parent)
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200  # still logged in


def test_login_goes_on_to_next(world):
    room = f"/sessions/{world.booking.id}/"
    response = log_in(browser(), world.tutor.email, next=room)
    assert response["Location"] == room


def test_login_refuses_an_offsite_next(world):
    response = log_in(browser(), world.tutor.email, next="https://evil.example/")
    assert response["Location"] == "/"


def test_wrong_password_shows_the_error_and_stays_logged_out(world):
    client = browser()
    response = log_in(client, world.parent.email, "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct email" in response.content.decode()
    assert client.get("/").status_code == 302


def test_a_logged_in_visitor_of_the_login_page_goes_to_the_sessions(world):
    response = browser(world.parent).get("/login/")
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize(("role", "status"), ROOM_ROLES.items())
def test_room_page_follows_the_access_rule(world, role, status):
    response = browser(world.user(role)).get(f"/sessions/{world.booking.id}/")
    assert response.status_code == status
    html = response.content.decode()
    if status == 200:
        assert f'data-session-id="{world.booking.id}"' in html
        assert 'src="/static/web/room.js"' in html
    else:
        assert "Not allowed" in html
        assert "This session is not one of yours." in html


@pytest.mark.parametrize("session_id", ["7b3c1f0e-3a4d-4c2b-9f61-1d2e3f4a5b6c", "not-a-uuid"])
def test_room_page_of_an_unknown_session_is_404(world, session_id):
    response = browser(world.parent).get(f"/sessions/{session_id}/")
    assert response.status_code == 404
    assert "No such session." in response.content.decode()


def test_room_page_is_a_shell_and_the_data_comes_from_the_api(world):
    services.message_create(booking=world.booking, sender=world.tutor, text="only over the API")
    html = browser(world.parent).get(f"/sessions/{world.booking.id}/").content.decode()
    assert "only over the API" not in html
    assert world.tutor.first_name not in html and world.child.first_name not in html


def test_the_room_carries_the_rules_limits(world, monkeypatch, settings):
    monkeypatch.setattr(services, "MAX_MESSAGE_LENGTH", 1234)
    monkeypatch.setattr(moderation, "MAX_DESCRIPTION", 567)
    settings.WS_TYPING_INTERVAL_SECONDS = 3
    html = browser(world.parent).get(f"/sessions/{world.booking.id}/").content.decode()
    assert 'data-typing-every-ms="3000"' in html
    assert 'id="message-text" name="text" rows="2" maxlength="1234"' in html
    assert 'id="report-description" name="description" rows="3" maxlength="567"' in html


@pytest.mark.parametrize("name", ["app.js", "room.js", "style.css"])
def test_static_files_are_served(db, name):
    response = browser().get(f"/static/web/{name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


# --- Login limits -----------------------------------------------------------------------------


@pytest.fixture
def login_limits(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"web-login-{uuid.uuid4()}"}}
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login_account="3/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_the_login_form_and_the_token_endpoint_share_one_budget_per_account(world, login_limits):
    # given two failed attempts on the API, from the browser's address
    api = APIClient(REMOTE_ADDR="127.0.0.1")
    for _ in range(2):
        assert (
            api.post("/api/auth/token", {"email": world.parent.email, "password": "x"}, format="json").status_code
            == 401
        )
    # when the form is used for the same account
    third = log_in(browser(), world.parent.email, "wrong")
    fourth = log_in(browser(), world.parent.email)  # even with the right password
    # then the third attempt is the last one allowed
    assert third.status_code == 200
    assert fourth.status_code == 429
    assert int(fourth["Retry-After"]) > 0
    assert "Too many attempts" in fourth.content.decode()
    # another account is not affected
    assert log_in(browser(), world.tutor.email).status_code == 302
    # nor is this account from another address (failures count per account and address)
    assert log_in(Client(enforce_csrf_checks=True, REMOTE_ADDR="10.9.9.9"), world.parent.email).status_code == 302


# --- The API with a browser session -----------------------------------------------------------


def test_a_browser_session_posts_messages_with_the_csrf_header(world):
    client = browser(world.parent)
    token = csrf_token(client, world)
    url = f"/api/sessions/{world.booking.id}/messages"
    refused = client.post(url, {"text": "no header"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    sent = client.post(url, {"text": "hello"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert sent.status_code == 201
    assert sent.json()["text"] == "hello"


def upload_webm(client, booking, content: bytes, **headers):
    return post_parts(client, booking, [("file", "lesson.webm", content, "video/webm")], **headers)


@pytest.mark.usefixtures("local_storage")
class TestUploadWithABrowserSession:
    def test_the_tutor_uploads_with_the_csrf_header(self, world, samples):
        client = browser(world.tutor)
        token = csrf_token(client, world)
        response = upload_webm(client, world.booking, samples.webm, HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 201
        assert response.json()["uploaded_by"] == str(world.tutor.id)
        assert response.json()["content_type"] == "video/webm"

    def test_without_the_header_it_is_refused(self, world, samples, local_storage):
        client = browser(world.tutor)
        csrf_token(client, world)
        response = upload_webm(client, world.booking, samples.webm)
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        assert local_storage.stored() == []

    def test_a_token_in_the_body_does_not_count(self, world, samples, local_storage):
        # the check never reads the body: a form field is not where the token is looked for
        client = browser(world.tutor)
        token = csrf_token(client, world)
        parts = [("csrfmiddlewaretoken", None, token.encode(), None), ("file", "a.webm", samples.webm, "video/webm")]
        response = post_parts(client, world.booking, parts)
        assert response.status_code == 403
        assert local_storage.stored() == []

    def test_the_parent_is_still_refused(self, world, samples):
        client = browser(world.parent)
        token = csrf_token(client, world)
        response = upload_webm(client, world.booking, samples.webm, HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 403
        assert "tutor" in response.json()["detail"]

    def test_the_csrf_check_leaves_the_body_unread(self, world, settings, local_storage):
        # DRF's own SessionAuthentication would parse this body to look for the token in it
        settings.RECORDING_MAX_BYTES = 1024 * 1024
        client = browser(world.tutor)
        token = csrf_token(client, world)
        response = client.generic(
            "POST",
            url(world.booking),
            b"",
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(5 * 1024**3),
            HTTP_X_CSRFTOKEN=token,
            **{"wsgi.input": UnreadableBody()},
        )
        assert response.status_code == 413
        assert local_storage.stored() == []
