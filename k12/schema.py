"""The API's OpenAPI document: the response descriptions every viewset shares, and each route
documented once (the API's paths work with and without a trailing slash; the schema lists the
slashless form)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})
R400 = OpenApiResponse(description="Invalid input: `{field: [messages]}`.")
R401 = OpenApiResponse(DETAIL, description="Not authenticated.")
R403 = OpenApiResponse(DETAIL, description="Authenticated, but not allowed.")
R404 = OpenApiResponse(DETAIL, description="No such object.")
R409 = OpenApiResponse(DETAIL, description="Conflicts with the current state.")
R429 = OpenApiResponse(DETAIL, description="Too many requests; see the Retry-After header.")


def drop_slash_twins(endpoints, **kwargs):
    paths = {path for path, *_ in endpoints}
    return [e for e in endpoints if not (e[0].endswith("/") and e[0].rstrip("/") in paths)]
