"""The API's list shape: the body stays a JSON array (what clients read) and the neighbouring
pages are announced in an RFC 8288 ``Link`` header, the way GitHub's API does."""

from __future__ import annotations

from urllib.parse import urlencode

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

DEFAULT_LIMIT = 100
MAX_LIMIT = 200


def link_header(links: dict[str, str | None]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)


def cursor_links(request, *, first_id, last_id, has_older: bool, has_newer: bool, limit: int) -> str | None:
    """The ``Link`` header of a page walked by message-id cursors: ``rel="prev"`` (``before`` its
    first item) when there is older, ``rel="next"`` (``after`` its last) when there is newer."""
    base = request.build_absolute_uri(request.path)
    links = {}
    if has_older:
        links["prev"] = f"{base}?{urlencode({'before': first_id, 'limit': limit})}"
    if has_newer:
        links["next"] = f"{base}?{urlencode({'after': last_id, 'limit': limit})}"
    return link_header(links) if links else None


def parse_limit(raw, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """``?limit=``: a whole number from 1 to ``maximum``; anything else (``?limit=`` included) is
    a 400."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"limit": ["A whole number is required."]}) from None
    if not 1 <= value <= maximum:
        raise ValidationError({"limit": [f"Must be between 1 and {maximum}."]})
    return value


class LinkHeaderCursorPagination(CursorPagination):
    """Keyset pagination with ``?limit=`` and an opaque ``?cursor=``; array body, Link header."""

    page_size = DEFAULT_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    ordering = ("-created_at", "id")

    def get_page_size(self, request):
        return parse_limit(request.query_params.get(self.page_size_query_param), default=self.page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

    def get_paginated_response(self, data):
        headers = {}
        links = {"prev": self.get_previous_link(), "next": self.get_next_link()}
        if any(links.values()):
            headers["Link"] = link_header(links)
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema):
        return schema

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "Opaque cursor from a Link header.",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]
