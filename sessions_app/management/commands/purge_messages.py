"""``manage.py purge_messages [--older-than DAYS] [--dry-run]``: the chat retention policy.

Deletes messages older than the retention period (``MESSAGE_RETENTION_DAYS`` unless
``--older-than`` says otherwise), except in sessions under legal hold. Audited as one event.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sessions_app.chat.retention import messages_purge


class Command(BaseCommand):
    help = "Delete chat messages past the retention period (sessions under legal hold are kept)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, dest="days", help="Days; default MESSAGE_RETENTION_DAYS.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args, days=None, dry_run=False, **options):
        from django.conf import settings

        days = settings.MESSAGE_RETENTION_DAYS if days is None else days
        if days is None or days <= 0:
            raise CommandError("No retention period: pass --older-than DAYS or set MESSAGE_RETENTION_DAYS.")
        result = messages_purge(older_than_days=days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.deleted} message(s) older than {days} day(s); kept {result.held} under legal hold."
            )
        )
