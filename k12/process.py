"""What a server process does once its application is loaded, before it serves anything."""

from __future__ import annotations

import gc

from django.urls import get_resolver


def application_loaded() -> None:
    """Load the URL map now rather than on the first request, then take everything loading made
    (modules, settings, URL patterns, models' metadata, well over a hundred thousand objects)
    out of the garbage collector's walks: it lives as long as the process, yet each full
    collection walked all of it again, holding the event loop, and every socket's frames with
    it, for as long as that took. Collection stays on for what serving creates."""
    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and everything it names
    gc.collect()
    gc.freeze()
