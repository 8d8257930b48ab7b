"""Auth: token, rotated refresh with blacklist, logout, /api/me."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import PASSWORD


@pytest.fixture
def client():
    return APIClient()


def login(client, email, password=PASSWORD):
    return client.post("/api/auth/token", {"email": email, "password": password}, format="json")


def test_login_me_and_case_insensitive_email(world, client):
    response = login(client, "PARENT@Example.test")
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/me").json()
    assert me == {
        "id": str(world.parent.id),
        "email": "parent@example.test",
        "first_name": "Paula",
        "last_name": "Parker",
        "role": "parent",
    }


@pytest.mark.parametrize(("email", "password"), [("parent@example.test", "wrong"), ("nobody@example.test", PASSWORD)])
def test_wrong_credentials_are_401(world, client, email, password):
    assert login(client, email, password).status_code == 401


def test_inactive_user_cannot_log_in_or_use_a_token(world, client, api):
    still_valid = api(world.parent)
    world.parent.is_active = False
    world.parent.save()
    assert login(client, "parent@example.test").status_code == 401
    assert still_valid.get("/api/me").status_code == 401


@pytest.mark.parametrize("body", [{}, {"email": "parent@example.test"}, {"password": "x"}])
def test_login_missing_fields_are_400(world, client, body):
    response = client.post("/api/auth/token", body, format="json")
    assert response.status_code == 400


def test_garbage_and_expired_access_tokens_are_401(world, client):
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert client.get("/api/me").status_code == 401
    expired = AccessToken.for_user(world.parent)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
    assert client.get("/api/me").status_code == 401


def test_refresh_token_is_not_an_access_token(world, client):
    refresh = login(client, "parent@example.test").json()["refresh"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh}")
    assert client.get("/api/me").status_code == 401


def test_access_token_lives_five_minutes_by_default(world, client):
    access = AccessToken(login(client, "parent@example.test").json()["access"])
    assert access["exp"] - access["iat"] == 300


def test_refresh_rotates_and_reused_refresh_is_401(world, client):
    first = login(client, "parent@example.test").json()["refresh"]
    response = client.post("/api/auth/token/refresh", {"refresh": first}, format="json")
    assert response.status_code == 200
    rotated = response.json()
    assert set(rotated) == {"access", "refresh"} and rotated["refresh"] != first
    reused = client.post("/api/auth/token/refresh", {"refresh": first}, format="json")
    assert reused.status_code == 401
    assert client.post("/api/auth/token/refresh", {"refresh": rotated["refresh"]}, format="json").status_code == 200


def test_logout_blacklists_the_refresh_token(world, client):
    tokens = login(client, "parent@example.test").json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 205
    assert client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert client.post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_logout_with_someone_elses_refresh_token_is_refused(world, client):
    victim = login(APIClient(), "parent@example.test").json()["refresh"]
    # anonymous: who is asking is unknown
    refused = client.post("/api/auth/logout", {"refresh": victim}, format="json")
    assert refused.status_code == 401
    # another user, signed in
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(world.tutor)}")
    refused = client.post("/api/auth/logout", {"refresh": victim}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You may log out only your own refresh token."}
    # the token still works
    assert client.post("/api/auth/token/refresh", {"refresh": victim}, format="json").status_code == 200


def test_an_admin_may_log_anyone_out(world, client):
    victim = login(APIClient(), "parent@example.test").json()["refresh"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(world.admin)}")
    assert client.post("/api/auth/logout", {"refresh": victim}, format="json").status_code == 205
    assert client.post("/api/auth/token/refresh", {"refresh": victim}, format="json").status_code == 401


@pytest.mark.parametrize("body", [{}, {"refresh": "garbage"}])
def test_logout_bad_input(world, client, body):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(world.parent)}")
    assert client.post("/api/auth/logout", body, format="json").status_code in (400, 401)


def test_the_view_gets_the_token_user_itself_once_it_is_read(world, api, monkeypatch):
    """The token's user is read together with what the request is about; from then on the view
    and the services work with the user object itself, not through the lazy stand-in (each of
    whose attribute reads is a lookup)."""
    from k12.models import User
    from sessions_app.chat import services, viewsets

    senders = []
    create = services.message_create

    def recording_create(**kwargs):
        senders.append(type(kwargs["sender"]))
        return create(**kwargs)

    monkeypatch.setattr(viewsets.services, "message_create", recording_create)
    response = api(world.parent).post(f"/api/sessions/{world.booking.id}/messages", {"text": "hi"}, format="json")
    assert response.status_code == 201
    assert senders == [User]
