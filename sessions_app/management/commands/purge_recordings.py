"""manage.py purge_recordings --older-than DAYS [--dry-run]: the retention policy."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from sessions_app.recordings.maintenance import recordings_purge


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


class Command(BaseCommand):
    help = "Delete recordings (rows and stored files) created more than DAYS days ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help="Age in whole days, >= 1; default RECORDING_RETENTION_DAYS. Sessions under legal hold are kept.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, older_than: int | None, dry_run: bool, verbosity: int, **options):
        from django.conf import settings

        if older_than is None:
            older_than = settings.RECORDING_RETENTION_DAYS
            if older_than < 1:
                raise CommandError("No retention period: pass --older-than DAYS or set RECORDING_RETENTION_DAYS.")
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")

        def progress(items, total):
            return tqdm(items, total=total, unit="rec", desc="Purging", file=self.stderr, disable=verbosity == 0)

        summary = recordings_purge(older_than=timedelta(days=older_than), dry_run=dry_run, progress=progress)
        if dry_run:
            self.stdout.write(
                f"Dry run: {summary.matched} recording(s) older than {older_than} day(s), "
                f"{_mib(summary.matched_bytes)}, would be deleted."
            )
            return
        self.stdout.write(
            f"Purged {summary.purged} of {summary.matched} recording(s) older than {older_than} day(s), "
            f"{_mib(summary.purged_bytes)} freed."
        )
        if summary.failed:
            for name in summary.failed:
                self.stderr.write(f"  could not remove stored file {name}")
            raise CommandError(
                f"{len(summary.failed)} stored file(s) could not be removed (their rows are gone); "
                "run `manage.py cleanup_recordings` once storage is reachable."
            )
