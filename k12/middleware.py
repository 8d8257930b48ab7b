"""Every error under /api/ is JSON in DRF's shape, whoever produced it; a refusal of the domain's
that reaches Django outside the API's views is told with its status (``DomainErrorMiddleware``).

DRF renders the errors its views raise. The rest came out of Django as HTML: a path that matches
no route (404), a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's ``RequestDataTooBig``, a
400 page), a crash (500, the debug page with DEBUG on). ``ApiErrorMiddleware`` sits outermost:
an API request whose declared body is over the limit is answered 413 before anything reads it,
and any other non-JSON error response under /api/ becomes ``{"detail": "..."}`` with its status.
"""

from __future__ import annotations

from http import HTTPStatus

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from k12.api import HTTP_STATUS
from k12.errors import DomainError, Forbidden, NotFound

API_PREFIX = "/api/"

DETAILS = {
    400: "Bad request.",
    404: "Not found.",
    413: "Request body too large.",
    500: "A server error occurred.",
}


def error_detail(status: int) -> str:
    if status in DETAILS:
        return DETAILS[status]
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return "Error."


def api_error(status: int, detail: str | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail or error_detail(status)}, status=status)


def declared_body_too_large(request: HttpRequest) -> bool:
    """A JSON (or other non-multipart) body declared larger than Django would read. Multipart
    bodies are uploads: their views check their own limit (RECORDING_MAX_BYTES)."""
    if request.content_type == "multipart/form-data":
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return limit is not None and length > limit


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if declared_body_too_large(request):
            return api_error(413, f"Request bodies are limited to {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            json_response = api_error(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.split(";")[0].strip().endswith("json")


class DomainErrorMiddleware:
    """A refusal raised under a page rather than an API view (a desk action, say): NotFound and
    Forbidden become Django's own 404 and 403 pages, as Http404 and PermissionDenied would; any
    other kind, its status and message (under /api/, ``ApiErrorMiddleware`` makes either JSON)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, DomainError):
            return None
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from exc
        if isinstance(exc, Forbidden):
            raise PermissionDenied(exc.message) from exc
        return HttpResponse(exc.message, status=HTTP_STATUS[exc.code], content_type="text/plain; charset=utf-8")


# A JSON answer is data: nothing in it may load or frame anything, whatever the pages allow.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware for pages (the configured policy, with the response's nonce); a
    JSON answer gets ``API_CSP``, a constant, instead of a policy built for every response."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if _is_json(response):
            response.headers.setdefault("Content-Security-Policy", API_CSP)
            return response
        return super().process_response(request, response)
