"""The API's router: DRF's ``SimpleRouter`` with path converters, each route registered with and
without its trailing slash (the contract: paths work both ways; the schema lists one)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    def __init__(self):
        super().__init__(trailing_slash=True, use_regex_path=False)

    def get_urls(self):
        urls = []
        for pattern in super().get_urls():
            route = str(pattern.pattern)
            urls.append(path(route.rstrip("/"), pattern.callback, name=f"{pattern.name}-noslash"))
            urls.append(pattern)
        return urls
