"""The API's authentication: one JWT class for REST and the WebSocket consumer, and the
browser's session with a header-only CSRF check (settings.REST_FRAMEWORK).

A bearer token is verified once per process and remembered until its ``exp``: its signature and
claims never change, and access tokens are not revocable before they expire (logout blacklists
the refresh token), while a client sends the same token for its whole lifetime. What a token
cannot say is whether its user still exists and is active; that is read from the database on
every request, as DRF's own class does, but lazily (``Viewer``), so that a view that fetches
what it is about can read the user in the same query (``k12.permissions.access_booking``).
"""

from __future__ import annotations

import copy
import time
import uuid

from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django.http.cookie import parse_cookie
from django.utils.datastructures import MultiValueDict
from django.utils.functional import SimpleLazyObject, empty
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from k12 import selectors

# raw token -> (user id, validated token, expiry): bounded, cleared when full.
_verified: dict[bytes, tuple[uuid.UUID, object, float]] = {}
VERIFIED_TOKENS_MAX = 4096


def _user_id_of(token) -> uuid.UUID:
    try:
        return uuid.UUID(str(token[jwt_settings.USER_ID_CLAIM]))
    except (KeyError, ValueError, TypeError, AttributeError):
        raise InvalidToken("Token contained no recognizable user identification") from None


def load_active_user(user_id):
    """The token's user, which must exist and be active; else 401 (DRF's own answers)."""
    return require_active(selectors.user_by_id(user_id))


def require_active(user):
    if user is None:
        raise AuthenticationFailed("User not found", code="user_not_found")
    if not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    return user


class Viewer(SimpleLazyObject):
    """The authenticated user of a verified token, read from the database when first used
    (``load_active_user``: 401 if it is gone or inactive), or handed over by an access fetch
    that read it together with the object (``resolve``). Authenticated by construction: asking
    that does not load it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id):
        super().__init__(lambda: load_active_user(user_id))
        self.__dict__["viewer_id"] = user_id

    def __bool__(self) -> bool:
        return True

    def resolve(self, user) -> None:
        self._wrapped = require_active(user)

    def resolved(self):
        """The user itself, read now if nothing has (401 if it is gone or inactive)."""
        load_viewer(self)
        return self._wrapped


def load_viewer(user) -> None:
    """Read a token's user now if nothing has (401 if it is gone or inactive)."""
    if pending_viewer_id(user) is not None:
        user._setup()


def pending_viewer_id(user):
    """The user id of a ``Viewer`` not read from the database yet, else None."""
    if isinstance(user, Viewer) and user._wrapped is empty:
        return user.viewer_id
    return None


class JWTAuthentication(SimpleJWTAuthentication):
    """simplejwt's check (``Authorization: Bearer <access>``), with verified tokens remembered
    until they expire and the user loaded lazily (``Viewer``)."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        user_id, token = self.verified_token(raw)
        return Viewer(user_id), token

    def verified_token(self, raw) -> tuple[uuid.UUID, object]:
        """``(user id, validated token)`` for a valid access token; InvalidToken (401) else."""
        if isinstance(raw, str):
            raw = raw.encode("iso-8859-1", "replace")
        known = _verified.get(raw)
        if known is not None and time.time() < known[2]:
            return known[0], known[1]
        _verified.pop(raw, None)
        token = self.get_validated_token(raw)
        user_id = _user_id_of(token)
        # With CHECK_REVOKE_TOKEN a password change revokes tokens early: nothing is remembered.
        if not getattr(jwt_settings, "CHECK_REVOKE_TOKEN", False):
            if len(_verified) >= VERIFIED_TOKENS_MAX:
                _verified.clear()
            _verified[raw] = (user_id, token, float(token["exp"]))
        return user_id, token


def user_from_access_token(raw) -> tuple[object, float]:
    """The live room's check of an ``auth`` frame: the same verification as REST (and its
    cache), the user loaded and required active. Returns ``(user, expiry epoch)``; raises
    TokenError for anything else."""
    if not isinstance(raw, str) or not raw:
        raise TokenError("A token string is required.")
    try:
        user_id, token = JWTAuthentication().verified_token(raw)
        return load_active_user(user_id), float(token["exp"])
    except (InvalidToken, AuthenticationFailed) as exc:
        raise TokenError(str(exc)) from None


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's name for it: simplejwt's bearer scheme."""

    target_class = JWTAuthentication
    name = "jwtAuth"


class HeaderCsrfSessionAuthentication(SessionAuthentication):
    """A logged-in browser's Django session, with the CSRF token taken from the ``X-CSRFToken``
    header only, never from the request body.

    DRF's ``SessionAuthentication`` runs Django's CSRF check, and on a POST that check looks for
    the token in the form body first: on a multipart upload that parses the whole body (with
    Django's default upload handlers) before the view has checked the request's size or installed
    its own streaming handler. Here the check runs on a copy of the request whose form is declared
    empty, so Django takes the token from the header and the body stays unread. Everything else is
    Django's check as is: the same cookie, the same Origin and Referer rules, the same 403.
    """

    def enforce_csrf(self, request):
        django_request = getattr(request, "_request", request)
        shadow = copy.copy(django_request)  # shares META and COOKIES; the body is not touched
        shadow._post, shadow._files = QueryDict(), MultiValueDict()
        super().enforce_csrf(shadow)


class HeaderCsrfSessionScheme(SessionScheme):
    """The OpenAPI schema's name for it: the session cookie, with the token in the header."""

    target_class = HeaderCsrfSessionAuthentication
    name = "cookieAuthCsrfHeader"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = "The Django session cookie; send the CSRF token in the X-CSRFToken header."
        return definition


class SocketAuthMiddleware:
    """``scope["user"]`` for a WebSocket: from the browser's Django session (Channels'
    ``AuthMiddlewareStack``) when the handshake brings a session cookie, else anonymous at once.
    Channels' stack builds a session and reads it on the database thread for every handshake,
    also when there is nothing to read: an API client authenticates with a token in its first
    frame, and a thousand of them reconnect together when a server process goes."""

    def __init__(self, inner):
        self.inner = inner
        self.with_session = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        if self._session_cookie(scope):
            return await self.with_session(scope, receive, send)
        return await self.inner({**scope, "user": AnonymousUser()}, receive, send)

    @staticmethod
    def _session_cookie(scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"cookie" and settings.SESSION_COOKIE_NAME in parse_cookie(value.decode("latin1")):
                return True
        return False
