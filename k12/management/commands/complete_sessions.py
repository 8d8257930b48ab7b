"""``manage.py complete_sessions``: scheduled sessions whose end has passed become completed."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from k12.services import bookings_complete_past


class Command(BaseCommand):
    help = "Mark scheduled sessions that have ended as completed (run it from cron, e.g. every 10 minutes)."

    def handle(self, *args, **options):
        count = bookings_complete_past()
        self.stdout.write(self.style.SUCCESS(f"Marked {count} session(s) completed."))
