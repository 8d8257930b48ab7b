"""Authentication classes beyond DRF's defaults (settings.REST_FRAMEWORK)."""

from __future__ import annotations

import copy

from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication


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
