"""Fixtures for the staff side: a superuser admin for the Django admin (the world's admin has the
admin role but no model permissions), people factories, and a logged-in admin-site client."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from k12.models import Role, Student, Subject, TutorSubject, User
from tests.conftest import make_user

_seq = itertools.count()


def new_tutor(*subjects: Subject, first: str = "Tina", last: str = "Tutor", **extra) -> User:
    tutor = make_user(f"tutor{next(_seq)}@example.test", Role.TUTOR, first, last, **extra)
    for subject in subjects:
        TutorSubject.objects.create(tutor=tutor, subject=subject)
    return tutor


def new_student(parent: User, first: str = "Kim", last: str = "Kid", grade: int = 4) -> Student:
    return Student.objects.create(parent=parent, first_name=first, last_name=last, grade=grade)


@pytest.fixture
def desk_admin(world) -> User:
    """The world's admin, made a superuser as `seed_demo` makes admin@k12.test."""
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_superuser"])
    return world.admin


@pytest.fixture
def desk(desk_admin) -> Client:
    """A browser-like client logged into /admin/ (session cookie, CSRF not enforced)."""
    client = Client()
    client.force_login(desk_admin)
    return client
