"""The audit trail: one write path, append-only. Who viewed a recording's URL, who uploaded or
deleted one, every allocation, every moderation action, consent changes, legal holds, bursts of
failed logins, retention purges."""

from __future__ import annotations

import logging
import uuid

from rest_framework.throttling import BaseThrottle

from k12.models import AuditAction, AuditEvent, User

logger = logging.getLogger(__name__)


def _ip(request) -> str | None:
    if request is None:
        return None
    ident = BaseThrottle().get_ident(request)
    return ident or None


def audit_record(
    *,
    action: AuditAction | str,
    actor: User | None = None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    session_id: uuid.UUID | str | None = None,
    data: dict | None = None,
    request=None,
) -> AuditEvent:
    """Append one event. ``target`` (a model instance) fills type and id; ``session_id`` lets
    staff filter a session's whole trail. Written in the caller's transaction: an action that
    rolls back leaves no trace, an action that commits always does."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor=actor if authenticated else None,
        actor_email=actor.email if authenticated else "",
        target_type=target_type,
        target_id=str(target_id),
        session_id=session_id,
        ip=_ip(request),
        data=data or {},
    )


def audit_record_many(*, action: AuditAction | str, actor: User | None, targets, session_id=None, request=None) -> None:
    """One event per target, written in one INSERT (a list of recordings whose URLs were issued)."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    ip = _ip(request)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action=action,
                actor=actor if authenticated else None,
                actor_email=actor.email if authenticated else "",
                target_type=target._meta.label_lower,
                target_id=str(target.pk),
                session_id=session_id,
                ip=ip,
            )
            for target in targets
        ]
    )
