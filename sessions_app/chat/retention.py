"""Retention: what the platform stops keeping, and when. Legal holds always win."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from k12.audit import audit_record
from k12.models import AuditAction
from sessions_app.models import SessionMessage

BATCH = 5000


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    held: int


def messages_purge(*, older_than_days: int, dry_run: bool = False) -> PurgeResult:
    """Delete messages created more than ``older_than_days`` ago, in batches, except those of
    sessions under legal hold. Reports and read cursors go with their messages. One audit event
    records the run (nothing is audited for a dry run)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old = SessionMessage.objects.filter(created_at__lt=cutoff)
    held = old.filter(session__legal_hold=True).count()
    doomed = old.filter(session__legal_hold=False)
    if dry_run:
        return PurgeResult(deleted=doomed.count(), held=held)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(doomed.values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            deleted += SessionMessage.objects.filter(pk__in=ids).delete()[1].get(SessionMessage._meta.label, 0)
    audit_record(
        action=AuditAction.RETENTION_PURGE,
        target_type="sessions_app.sessionmessage",
        data={"older_than_days": older_than_days, "deleted": deleted, "held": held, "cutoff": cutoff.isoformat()},
    )
    return PurgeResult(deleted=deleted, held=held)
