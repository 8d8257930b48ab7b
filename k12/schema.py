"""OpenAPI tweaks: each route is documented once (the contract's paths work with and without
a trailing slash; the schema lists the slashless form)."""

from __future__ import annotations


def drop_slash_twins(endpoints, **kwargs):
    paths = {path for path, *_ in endpoints}
    return [e for e in endpoints if not (e[0].endswith("/") and e[0].rstrip("/") in paths)]
