"""URL helpers shared by the project's url modules (k12/urls.py and the apps' url modules, which
k12/urls.py includes and so cannot import from it)."""

from __future__ import annotations

from django.urls import path


def route(pattern: str, view, name: str) -> list:
    """The contract: 'Paths work with and without a trailing slash.'"""
    return [path(pattern, view, name=f"{name}-noslash"), path(f"{pattern}/", view, name=name)]
