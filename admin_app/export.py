"""CSV export of a changelist: the rows the changelist would show with its filters, search, date
drill-down and ordering, every one of them (not just the page), streamed.

The rows are read with a server-side cursor (``QuerySet.iterator``) as plain tuples and written
in batches, so memory stays flat whatever the table's size: a 100,000-row audit trail is never
in memory at once. Under ASGI the response iterates asynchronously, pulling each batch from the
request's sync thread (Django would otherwise collect a sync iterator into a list first).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from asgiref.sync import sync_to_async
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

BATCH_ROWS = 2000
# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_batches(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    """The header, then the rows, as CSV text in batches of ``BATCH_ROWS`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow([cell(value) for value in row])
        n += 1
        if n % BATCH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _pull(batches: Iterator[str]):
    # One thread for the whole response: the server-side cursor lives on its connection.
    step = sync_to_async(next, thread_sensitive=True)
    while (batch := await step(batches, None)) is not None:
        yield batch


class CsvExportMixin:
    """A changelist with "Export CSV". ``csv_columns`` lists (header, field path for
    ``values_list``) pairs; the export URL is ``<changelist>/export.csv?<the changelist's query>``."""

    csv_columns: list[tuple[str, str]] = []
    change_list_template = "admin_app/change_list_export.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        return [path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=name), *super().get_urls()]

    def export_queryset(self, request):
        """The changelist's own queryset (filters, search, date drill-down, ordering), without
        the page the changelist would otherwise fetch and count."""
        base = self.get_changelist(request)
        exporter = type(f"Export{base.__name__}", (base,), {"get_results": lambda changelist, request: None})
        list_display = self.get_list_display(request)
        if self.get_actions(request):
            list_display = ["action_checkbox", *list_display]  # as the changelist numbers its "o" columns
        changelist = exporter(
            request,
            self.model,
            list_display,
            self.get_list_display_links(request, list_display),
            self.get_list_filter(request),
            self.date_hierarchy,
            self.get_search_fields(request),
            self.get_list_select_related(request),
            self.list_per_page,
            self.list_max_show_all,
            self.list_editable,
            self,
            self.get_sortable_by(request),
            self.search_help_text,
        )
        return changelist.queryset

    def export_csv_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            queryset = self.export_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Those filters do not apply to this list.")
        header = [title for title, _ in self.csv_columns]
        rows = queryset.values_list(*(field for _, field in self.csv_columns)).iterator(chunk_size=BATCH_ROWS)
        batches = csv_batches(header, rows)
        content = _pull(batches) if isinstance(request, ASGIRequest) else batches
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M")
        filename = f"{self.opts.verbose_name_plural.replace(' ', '-')}-{stamp}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
