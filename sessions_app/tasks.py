"""Background tasks inside sessions: missed-message digests, recording processing, and the
recordings' and messages' maintenance (see k12/celery.py). Each calls an idempotent service
function; the management commands call the same functions."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def cleanup_recordings() -> int:
    from sessions_app.recordings.maintenance import recording_orphans_clean

    report = recording_orphans_clean()
    if report.failed:
        logger.warning("cleanup_recordings: %d item(s) could not be removed", len(report.failed))
    return report.found


@shared_task(acks_late=True)
def purge_messages() -> int:
    """Apply MESSAGE_RETENTION_DAYS (nothing when it is 0: keep forever)."""
    from sessions_app.chat.retention import messages_purge

    if settings.MESSAGE_RETENTION_DAYS <= 0:
        return 0
    return messages_purge(older_than_days=settings.MESSAGE_RETENTION_DAYS).deleted


@shared_task(acks_late=True)
def purge_recordings() -> int:
    """Apply RECORDING_RETENTION_DAYS (nothing when it is 0: keep forever)."""
    from sessions_app.recordings.maintenance import recordings_purge

    if settings.RECORDING_RETENTION_DAYS <= 0:
        return 0
    return recordings_purge(older_than=timedelta(days=settings.RECORDING_RETENTION_DAYS)).purged


@shared_task(acks_late=True)
def digests_send_due() -> int:
    from sessions_app.chat.digests import digests_send_due

    return digests_send_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recording_process(recording_id: str) -> str:
    from sessions_app.recordings.processing import recording_process

    return recording_process(recording_id=recording_id).status


@shared_task(acks_late=True)
def recordings_process_sweep() -> int:
    from sessions_app.recordings.processing import recordings_process_sweep

    return recordings_process_sweep()
