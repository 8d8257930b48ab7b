"""WSGI entry point: production serves REST with gunicorn (see PERFORMANCE.md) and /ws/ with daphne."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k12.settings")
application = get_wsgi_application()
