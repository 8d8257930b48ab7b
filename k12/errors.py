"""The domain's refusals: what a service, a selector or the access rule raises when it will not do
what was asked. Each carries a message for whoever asked and a ``code`` naming the kind; none
knows how it will be told.

Each edge tells them in its own terms, in one place: REST in ``k12.api.exception_handler`` (the
API's status codes and bodies), the live room's two protocols through
``sessions_app.chat.live.live_error``, the desk through ``admin_app.admin.base``, and any other
Django page through ``k12.middleware.DomainErrorMiddleware``.
"""

from __future__ import annotations

__all__ = ["Conflict", "DomainError", "Forbidden", "Invalid", "NotFound", "RateLimited", "TooLarge", "field_error"]


class DomainError(Exception):
    code = "error"
    default_message = "The request was refused."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class Invalid(DomainError):
    """Bad input: ``errors`` is ``{field: [message, ...]}``."""

    code = "invalid"
    default_message = "Invalid input."

    def __init__(self, errors: dict[str, list[str]], message: str | None = None):
        self.errors = errors
        super().__init__(message)


class Forbidden(DomainError):
    """The object exists, and whoever asked may not do this with it."""

    code = "forbidden"
    default_message = "Not allowed."


class NotFound(DomainError):
    """There is no such object (a malformed id included)."""

    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    """Well formed and allowed, but it clashes with the state of the world."""

    code = "conflict"
    default_message = "The request conflicts with the current state."


class TooLarge(DomainError):
    code = "too_large"
    default_message = "Too large."


class RateLimited(DomainError):
    """Over a limit: allowed again in ``wait_seconds``."""

    code = "rate_limited"
    default_message = "Too many requests."

    def __init__(self, wait_seconds: int, message: str | None = None):
        self.wait_seconds = wait_seconds
        super().__init__(message)


def field_error(field: str, message: str) -> Invalid:
    """A refusal of one input field."""
    return Invalid({field: [message]})
