"""What a server process does once its application is loaded, before it serves anything."""

from __future__ import annotations

import gc

from django.urls import get_resolver

# The live room's processes (daphne) hold thousands of sockets, each a few hundred objects that
# live as long as it does. At the interpreter's default (a young collection every 700 net new
# objects), a thousand sockets reconnecting together set off a full collection each time the old
# generation had grown by a quarter, every one walking all the sockets' objects again with the
# event loop held; a young collection after 10,000 lets arrivals settle first and makes full
# collections rare (bench/rooms.py --storm measures the time back). The older generations keep
# their default ratios.
SOCKET_SERVER_GC_THRESHOLDS = (10_000, 10, 10)


def application_loaded(*, gc_thresholds: tuple[int, int, int] | None = None) -> None:
    """Load the URL map now rather than on the first request, then take everything loading made
    (modules, settings, URL patterns, models' metadata, well over a hundred thousand objects)
    out of the garbage collector's walks: it lives as long as the process, yet each full
    collection walked all of it again, holding the event loop, and every socket's frames with
    it, for as long as that took. Collection stays on for what serving creates, at
    ``gc_thresholds`` if given."""
    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and everything it names
    gc.collect()
    gc.freeze()
    if gc_thresholds is not None:
        gc.set_threshold(*gc_thresholds)
