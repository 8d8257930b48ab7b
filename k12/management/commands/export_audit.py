"""``manage.py export_audit --since YYYY-MM-DD [--until ...] [--output FILE]``: the audit trail
as CSV (stdout by default), oldest first, streamed in chunks."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from k12.models import AuditEvent

COLUMNS = ["created_at", "actor_email", "action", "target_type", "target_id", "session_id", "ip", "data"]


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not an ISO date or date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Write the audit trail since a date as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="ISO date or date-time (UTC unless given).")
        parser.add_argument("--until", help="ISO date or date-time, exclusive.")
        parser.add_argument("--output", help="File to write; stdout when omitted.")

    def handle(self, *args, since, until=None, output=None, **options):
        qs = AuditEvent.objects.filter(created_at__gte=_date(since)).order_by("created_at", "id")
        if until:
            qs = qs.filter(created_at__lt=_date(until))
        stream = open(output, "w", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            writer = csv.writer(stream)
            writer.writerow(COLUMNS)
            count = 0
            for event in qs.iterator(chunk_size=2000):
                writer.writerow(
                    [
                        event.created_at.isoformat(),
                        event.actor_email,
                        event.action,
                        event.target_type,
                        event.target_id,
                        event.session_id or "",
                        event.ip or "",
                        event.data,
                    ]
                )
                count += 1
        finally:
            if output:
                stream.close()
        if output:
            self.stderr.write(f"Wrote {count} event(s) to {output}.")
