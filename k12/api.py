"""REST views of authentication (token, refresh, logout, me) and the API's error handler. The
resources are viewsets (k12/viewsets.py and the apps' viewsets modules), routed in k12/urls.py."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from k12 import permissions, throttling
from k12.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited, TooLarge
from k12.formats import me_payload
from k12.schema import R400, R401, R403, R429
from k12.serializers import (
    EmailTokenObtainSerializer,
    MeSerializer,
    RefreshSerializer,
    TokenPairSerializer,
)

logger = logging.getLogger(__name__)


# The API's status for each kind of refusal (``k12.errors``).
HTTP_STATUS = {
    Invalid.code: status.HTTP_400_BAD_REQUEST,
    Forbidden.code: status.HTTP_403_FORBIDDEN,
    NotFound.code: status.HTTP_404_NOT_FOUND,
    Conflict.code: status.HTTP_409_CONFLICT,
    TooLarge.code: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    RateLimited.code: status.HTTP_429_TOO_MANY_REQUESTS,
}


def rest_error(exc: DomainError) -> exceptions.APIException:
    """A refusal as the API tells it: ``{field: [messages]}`` for bad input, ``{"detail": message}``
    otherwise; a rate limit with ``Retry-After``."""
    if isinstance(exc, Invalid):
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, RateLimited):
        return exceptions.Throttled(wait=exc.wait_seconds)
    error = exceptions.APIException(exc.message, code=exc.code)
    error.status_code = HTTP_STATUS[exc.code]
    return error


def exception_handler(exc, context):
    """DRF's handler, plus the domain's refusals with the API's statuses and Django's
    ValidationError as a 400 (never a 500 for bad input)."""
    if isinstance(exc, DomainError):
        exc = rest_error(exc)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    return drf_exception_handler(exc, context)


# --- Auth -------------------------------------------------------------------------------------


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, 400: R400, 401: R401, 429: R429})
class TokenView(TokenObtainPairView):
    """`{email, password}` → `{access, refresh}`."""

    serializer_class = EmailTokenObtainSerializer
    throttle_classes = [
        throttling.LoginIPThrottle,
        throttling.LoginAccountThrottle,
        throttling.LoginAccountTotalThrottle,
    ]

    def post(self, request: Request, *args, **kwargs) -> Response:
        response = super().post(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            throttling.refund_success(request)  # the account limits count failed attempts
        return response


@extend_schema(tags=["auth"], responses={200: TokenPairSerializer, 400: R400, 401: R401, 429: R429})
class RefreshView(TokenRefreshView):
    """`{refresh}` → `{access, refresh}`: rotated, the old refresh token is blacklisted."""

    throttle_classes = [throttling.RefreshIPThrottle, throttling.RefreshAccountThrottle]


class LogoutView(APIView):
    """`{refresh}` → 205: the refresh token is blacklisted and stops working. The caller proves
    who they are (Bearer access token or session) and may log out only their own refresh token,
    unless an admin."""

    @extend_schema(
        tags=["auth"],
        request=RefreshSerializer,
        responses={205: OpenApiResponse(description="Logged out."), 400: R400, 401: R401, 403: R403},
    )
    def post(self, request: Request) -> Response:
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(body.validated_data["refresh"])
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="token_not_valid") from exc
        owner = refresh.get(api_settings.USER_ID_CLAIM)
        if not permissions.can_revoke_refresh_token(request.user, owner):
            raise exceptions.PermissionDenied("You may log out only your own refresh token.")
        refresh.blacklist()
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: MeSerializer, 401: R401})
    def get(self, request: Request) -> Response:
        return Response(me_payload(request.user))
