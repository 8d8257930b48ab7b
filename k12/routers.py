"""Every route with and without its trailing slash (clients write either; the schema lists
one): ``Router``, the API's router (DRF's ``SimpleRouter`` with path converters), and ``route``
for a plain view. Used by k12/urls.py and the apps' url modules, which k12/urls.py includes and
so cannot import from it."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    def __init__(self):
        super().__init__(trailing_slash=True, use_regex_path=False)

    def get_urls(self):
        urls = []
        for pattern in super().get_urls():
            slashed = str(pattern.pattern)
            urls.append(path(slashed.rstrip("/"), pattern.callback, name=f"{pattern.name}-noslash"))
            urls.append(pattern)
        return urls


def route(pattern: str, view, name: str) -> list:
    """``path()`` twice: ``pattern`` without and with its trailing slash."""
    return [path(pattern, view, name=f"{name}-noslash"), path(f"{pattern}/", view, name=name)]
