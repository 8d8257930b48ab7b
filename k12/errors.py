"""Errors the services raise, shaped as the contract's responses.

Services raise DRF's ``ValidationError`` with a ``{field: [message]}`` dict for bad input
(400), Django's ``PermissionDenied`` (403), and ``Conflict`` (409) when the request is well
formed but clashes with the state of the world. The REST exception handler renders them;
the WebSocket consumer and the Django admin catch and show them the same way.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

__all__ = ["Conflict", "FieldError", "ValidationError", "field_error"]


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class FieldError(ValidationError):
    """A 400 about one input field."""


def field_error(field: str, message: str) -> FieldError:
    return FieldError({field: [message]})
