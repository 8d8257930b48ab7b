"""Strict query strings for every list: django-filter filter sets that refuse what they do not
know. An unknown query parameter, a blank one, or a value a filter cannot read is a 400 that
names the parameter (``{"status": ["Select a valid choice. ..."]}``), the way Stripe's API
answers; nothing is silently ignored.

``StrictFilterBackend`` is every API view's filter backend (``k12.viewsets.ApiViewSet``);
``known_query_params`` is what a view accepts for the action at hand: its filter set's names,
its paginator's (``limit``, ``cursor``) on lists, and what the view declares in
``extra_query_params`` (e.g. the chat's ``before``/``after``).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError

UNKNOWN = "Unknown query parameter."
BLANK = "May not be blank."


class StrictFilterSet(django_filters.FilterSet):
    """A filter set whose blank values are errors: in a query string ``?status=`` is malformed
    input, not "no filter". ``blank_allowed`` names the filters that may be empty (a search box)."""

    blank_allowed: tuple[str, ...] = ()

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and self.data.get(name) == "" and name not in self.blank_allowed:
                self.form.add_error(name, BLANK)
                valid = False
        return valid


class EmptyFilterSet(StrictFilterSet):
    """The filter set of a list that has no filters: only paging parameters are known."""


def _action(view, request) -> str | None:
    """A viewset's action (None for a method it does not serve); a plain view's method."""
    if hasattr(view, "action"):
        return view.action
    return request.method.lower()


def known_query_params(view, action: str | None) -> set[str]:
    known = set(getattr(view, "extra_query_params", {}).get(action, ()))
    if action == "list":
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            known.update(filterset_class.base_filters)
        paginator = getattr(view, "paginator", None)
        if paginator is not None:
            for attr in ("page_size_query_param", "cursor_query_param"):
                if name := getattr(paginator, attr, None):
                    known.add(name)
    return known


def reject_unknown_query_params(view, request) -> None:
    """400 naming every query parameter the view does not know for this action. A method the
    view does not serve (no action) is its 405, whatever the query; OPTIONS describes the view."""
    if not request.query_params:
        return
    action = _action(view, request)
    if action in (None, "metadata", "options"):
        return
    unknown = sorted(set(request.query_params) - known_query_params(view, action))
    if unknown:
        raise ValidationError({name: [UNKNOWN] for name in unknown})


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: PostgreSQL refuses offsets beyond +-15:59, which ISO 8601
    allows (a 500 for ``?from=0219-01-21T21:37:09-17:00``), and a far date moved by its offset
    can leave the calendar (a 400 here)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date-time out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class StrictFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend with the lists' strict rules (``StrictFilterSet``)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return filterset.qs
