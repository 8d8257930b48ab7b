"""WSGI entry point: production serves REST with granian (uploads with gunicorn) and /ws/ with
daphne (docker/Dockerfile)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k12.settings")
application = get_wsgi_application()

from k12.process import application_loaded  # noqa: E402  (needs Django set up first)

application_loaded()
