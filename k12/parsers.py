"""The API's request bodies. ``JSONParser``: DRF's, with input nested too deeply to parse as a
400 like any other malformed JSON. Python's decoder recurses once per level, so `[` x 100,000
raises RecursionError, which DRF's parser lets through (it turns only ValueError into a
ParseError): a 500 with a traceback logged for every such request. ``json_object``: for views
whose body must be a JSON object."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request

NESTED_TOO_DEEPLY = "JSON parse error - nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(NESTED_TOO_DEEPLY) from None


def json_object(request: Request) -> dict:
    """The request body, which must be a JSON object (an array, a string or null is a 400)."""
    if not isinstance(request.data, dict):
        raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return request.data
