"""Background tasks of the core domain (run by ``celery -A k12 worker``; see k12/celery.py).

Tasks are thin: each calls a service function that does the work and is idempotent, so a task
delivered twice (a worker killed mid-task, two beat processes) changes nothing the second time.
"""

from __future__ import annotations

from celery import shared_task

from k12 import notifications


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def notification_email(self, notification_id: str) -> str:
    """Send one notification's email; retried with backoff while it is not settled."""
    attempt = notifications.notification_email_send(notification_id=notification_id)
    # Eagerly run (no broker), a retry would be immediate and inside the caller: leave the row
    # as it is and let the sweep try it again when it is due.
    if attempt.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.status


@shared_task(acks_late=True)
def notification_emails_sweep() -> int:
    return notifications.notification_emails_sweep()


@shared_task(acks_late=True)
def reminders_send_due() -> int:
    from k12.reminders import reminders_send_due

    return reminders_send_due()


@shared_task(acks_late=True)
def complete_sessions() -> int:
    from k12.services import bookings_complete_past

    return bookings_complete_past()


@shared_task(acks_late=True)
def flush_expired_tokens() -> None:
    """What ``manage.py flushexpiredtokens`` does (simplejwt's command, called as it is)."""
    from django.core.management import call_command

    call_command("flushexpiredtokens", verbosity=0)
