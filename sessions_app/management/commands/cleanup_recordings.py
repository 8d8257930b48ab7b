"""manage.py cleanup_recordings [--dry-run] [--grace-minutes N]: remove orphans on both sides."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from sessions_app.recordings.maintenance import recording_orphans_clean
from sessions_app.recordings.storage import storage_is_s3

SECTIONS = [
    ("rows_without_bytes", "recording rows whose stored file is missing"),
    ("stale_rows", "abandoned uploads and stuck or failed processing"),
    ("bytes_without_rows", "stored files no recording row points at"),
    ("uploads_without_rows", "open S3 multipart uploads no recording row knows"),
]


class Command(BaseCommand):
    help = (
        "Find and remove recording orphans: rows without stored files, stored files without rows, "
        "abandoned uploads (and their S3 multipart uploads). Works on local disk and on S3."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only report.")
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=60,
            help="Leave alone anything younger than this (uploads in flight). Default 60.",
        )

    def handle(self, *args, dry_run: bool, grace_minutes: int, verbosity: int, **options):
        if grace_minutes < 1:
            raise CommandError("--grace-minutes must be at least 1.")
        report = recording_orphans_clean(grace=timedelta(minutes=grace_minutes), dry_run=dry_run)
        storage = "S3" if storage_is_s3() else "local disk"
        verb = "found" if dry_run else "removed"
        for attr, label in SECTIONS:
            names = getattr(report, attr)
            self.stdout.write(f"{label}: {len(names)} {verb}")
            if verbosity > 1:
                for name in names:
                    self.stdout.write(f"  {name}")
        self.stdout.write(f"{'Dry run: ' if dry_run else ''}{report.found} orphan(s) {verb} on {storage}.")
        if report.failed:
            raise CommandError(f"{len(report.failed)} item(s) could not be removed: {', '.join(report.failed)}")
