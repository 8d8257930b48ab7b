"""The Celery application: background work (notification email, reminders, missed-message
digests, recording processing, maintenance) runs in worker processes fed through Redis.

Configuration is Django's settings with the ``CELERY_`` prefix (k12/settings.py, "Background
work"). With no broker configured (the embedded default) tasks run eagerly, in the process that
asks for them.

    celery -A k12 worker    # as many as the queue needs, on any machine reaching Redis and PostgreSQL
    celery -A k12 beat      # the schedule (reminders, digests, maintenance); one is enough
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k12.settings")

app = Celery("k12")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
