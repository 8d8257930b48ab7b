"""CSV export of the desk's changelists: the filtered rows (all of them, not one page), in the
changelist's order, streamed from a server-side cursor so 100,000 rows never sit in memory."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
from asgiref.sync import async_to_sync
from django.contrib.admin import site
from django.db import connection
from django.test import AsyncRequestFactory
from django.test.utils import CaptureQueriesContext

from k12 import services
from k12.models import AuditEvent, User
from sessions_app.chat.moderation import message_report
from sessions_app.chat.services import message_create
from tests.admin_app.conftest import new_student
from tests.conftest import book, next_slot


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    ("changelist", "query", "header", "expected"),
    [
        ("k12/user", "role__exact=tutor", "email", ["other.tutor@example.test", "tutor@example.test"]),
        ("k12/user", "q=parent", "email", ["other.parent@example.test", "parent@example.test"]),
        ("k12/student", "tutor=none", "first name", ["Lonely"]),
        ("k12/booking", "status__exact=cancelled", "status", ["cancelled"]),
        ("k12/allocation", "status__exact=active&subject__id__exact=MATH", "tutor", ["tutor@example.test"]),
        ("sessions_app/messagereport", "reason__exact=bullying", "message text", ["you are slow"]),
        ("k12/auditevent", "action__exact=message.reported", "action", ["message.reported"]),
    ],
)
def test_each_changelist_exports_what_its_filters_select(world, desk, changelist, query, header, expected):
    # given: a student without a tutor, a cancelled session, a report (which is audited)
    new_student(world.parent, first="Lonely")
    services.booking_cancel(booking=world.other_booking, cancelled_by=world.admin)
    message = message_create(booking=world.booking, sender=world.tutor, text="you are slow")[0]
    message_report(message=message, reporter=world.parent, reason="bullying")
    # when
    table = rows(desk.get(f"/admin/{changelist}/export.csv?{query.replace('MATH', str(world.math.id))}"))
    # then
    column = table[0].index(header)
    assert [row[column] for row in table[1:]] == expected


def test_the_changelist_links_to_its_export_with_its_filters(world, desk):
    html = desk.get("/admin/k12/booking/?status__exact=scheduled&q=tutor").content.decode()
    assert 'href="/admin/k12/booking/export.csv?q=tutor&amp;status__exact=scheduled">Export CSV</a>' in html


def test_the_export_keeps_the_changelists_order(world, desk):
    later = book(world.child, world.tutor, world.math, next_slot(5, 10))
    ids = [row[0] for row in rows(desk.get("/admin/k12/booking/export.csv?o=-1"))[1:]]
    assert ids == [str(later.id), str(world.other_booking.id), str(world.booking.id)]


def test_cells_that_a_spreadsheet_would_run_are_defused(world, desk):
    message = message_create(booking=world.booking, sender=world.tutor, text='=HYPERLINK("http://x","y")')[0]
    message_report(message=message, reporter=world.parent, reason="spam")
    table = rows(desk.get("/admin/sessions_app/messagereport/export.csv"))
    assert table[1][table[0].index("message text")] == '\'=HYPERLINK("http://x","y")'


def test_a_filter_the_list_does_not_have_is_a_400(world, desk):
    assert desk.get("/admin/k12/booking/export.csv?nonsense=1").status_code == 400


def test_the_export_is_for_staff_only(world, client):
    client.force_login(world.parent)
    response = client.get("/admin/k12/auditevent/export.csv")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_100000_audit_events_stream_in_batches_with_flat_memory(world, desk):
    # given 100,000 events (one INSERT ... SELECT)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO k12_auditevent (created_at, actor_email, action, target_type, target_id, ip, data)
               SELECT now() - make_interval(secs => n), 'staff@example.test', 'recording.url_viewed',
                      'sessions_app.sessionrecording', gen_random_uuid()::text, '10.0.0.1',
                      jsonb_build_object('n', n)
               FROM generate_series(1, 100000) AS n"""
        )
    assert AuditEvent.objects.count() == 100_000
    # when the export is read batch by batch
    tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as ctx:
            response = desk.get("/admin/k12/auditevent/export.csv")
            chunks = 0
            lines = 0
            first_chunk_peak = None
            for chunk in response.streaming_content:
                chunks += 1
                lines += chunk.count(b"\n")
                if first_chunk_peak is None:
                    first_chunk_peak = tracemalloc.get_traced_memory()[1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then every row came, in many batches, from one query (a server-side cursor), and memory
    # stayed at a batch's worth: 100,000 rows as Python tuples alone would take well over 30 MB
    assert lines == 100_001
    assert chunks == 100_000 // 2000 + 1
    # the login's session and user, then the export: one server-side cursor, read in batches
    assert len(ctx.captured_queries) == 3
    export = ctx.captured_queries[2]["sql"]
    if connection.features.uses_server_side_binding:  # psycopg declares the cursor itself
        assert export.startswith('SELECT "k12_auditevent"')
        assert connection.connection.cursor_factory.__name__ == "ServerBindingCursor"
    else:
        assert export.startswith("DECLARE") and 'CURSOR FOR SELECT "k12_auditevent"' in export
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert first_chunk_peak < 12 * 1024 * 1024


def test_under_asgi_the_export_streams_asynchronously(world, desk_admin):
    # Django collects a sync iterator into a list before serving it over ASGI; the export
    # hands ASGI an async iterator that pulls batch after batch from the request's thread.
    request = AsyncRequestFactory().get("/admin/k12/user/export.csv")
    request.user = desk_admin
    response = site._registry[User].export_csv_view(request)
    assert response.is_async

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    table = list(csv.reader(io.StringIO(async_to_sync(read)().decode())))
    assert [row[1] for row in table] == ["email", *User.objects.order_by("email").values_list("email", flat=True)]
