"""Fixtures for the staff side: a superuser admin for the Django admin (the world's admin has the
admin role but no model permissions), people factories, and a logged-in admin-site client."""

from __future__ import annotations

import itertools
from datetime import time

import pytest
from django.test import Client

from k12 import services
from k12.models import Role, Student, Subject, TutorAvailability, TutorSubject, User
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


@pytest.fixture
def math_tutors(world):
    """Besides Tom (Math, 84 h a week, one allocation, one 60-minute session tomorrow):
    Bea with 10 h a week and nothing booked, Cy with 84 h and two allocations, an inactive
    Math tutor, and Emma (English only)."""
    bea = new_tutor(world.math, first="Bea", last="Busy")
    TutorAvailability.objects.create(tutor=bea, weekday=0, start_time=time(9), end_time=time(19))
    cy = new_tutor(world.math, first="Cy", last="Crowded")
    for day in range(7):
        TutorAvailability.objects.create(tutor=cy, weekday=day, start_time=time(8), end_time=time(20))
    for name in ("Ann", "Bob"):
        services.allocation_create(
            created_by=world.admin, student=new_student(world.parent, first=name), tutor=cy, subject=world.math
        )
    new_tutor(world.math, first="Gone", is_active=False)
    return {"bea": bea, "cy": cy}
