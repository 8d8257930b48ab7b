"""``manage.py seed_demo``: the demo accounts and their world (README, "Demo accounts"),
idempotent (run it twice, same data)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from k12 import permissions
from k12.demo import demo_seeds_run
from k12.models import (
    Allocation,
    AllocationStatus,
    Booking,
    Role,
    Student,
    Subject,
    TutorAvailability,
    TutorSubject,
    User,
)

DEFAULT_PASSWORD = "demo-pass-123"

PEOPLE = [
    ("admin@k12.test", "Ada", "Admin", Role.ADMIN),
    ("parent1@k12.test", "Paula", "Parker", Role.PARENT),
    ("parent2@k12.test", "Peter", "Quinn", Role.PARENT),
    ("student1@k12.test", "Sam", "Parker", Role.STUDENT),
    ("tutor1@k12.test", "Tom", "Turing", Role.TUTOR),
    ("tutor2@k12.test", "Emma", "Austen", Role.TUTOR),
]
SUBJECTS = ["Math", "Physics", "English"]
TEACHES = {"tutor1@k12.test": ["Math", "Physics"], "tutor2@k12.test": ["English"]}
# (parent, first name, last name, grade, login, consent to record)
CHILDREN = [
    ("parent1@k12.test", "Sam", "Parker", 7, "student1@k12.test", True),
    ("parent2@k12.test", "Mia", "Quinn", 5, None, False),
]
# (child's parent, tutor, subject, days from now, hour UTC)
PAIRS = [
    ("parent1@k12.test", "tutor1@k12.test", "Math", 1, 16),
    ("parent2@k12.test", "tutor2@k12.test", "English", 2, 15),
]


class Command(BaseCommand):
    help = "Create the demo accounts, subjects, allocations and sessions (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Password for every demo account.")

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        users: dict[str, User] = {}
        # Hashing is deliberately slow: the one password is hashed once for every account, and
        # each stored hash is checked against it once.
        hashed = None
        matches: dict[str, bool] = {}
        for email, first, last, role in PEOPLE:
            user, _ = User.objects.update_or_create(
                email=email,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "role": role,
                    "is_active": True,
                    "is_staff": permissions.is_staff_role(role),
                    "is_superuser": role == Role.ADMIN,
                },
            )
            if user.password not in matches:
                matches[user.password] = bool(user.password) and check_password(password, user.password)
            if not matches[user.password]:
                hashed = hashed or make_password(password)
                user.password = hashed
                user.save(update_fields=["password"])
            users[email] = user

        subjects = {name: Subject.objects.get_or_create(name=name)[0] for name in SUBJECTS}
        for email, names in TEACHES.items():
            for name in names:
                TutorSubject.objects.get_or_create(tutor=users[email], subject=subjects[name])
            for weekday in range(7):
                TutorAvailability.objects.get_or_create(
                    tutor=users[email],
                    weekday=weekday,
                    start_time=time(8, 0),
                    end_time=time(20, 0),
                    defaults={"timezone": "UTC"},
                )

        children: dict[str, Student] = {}
        for parent_email, first, last, grade, login, consent in CHILDREN:
            child, _ = Student.objects.update_or_create(
                parent=users[parent_email],
                first_name=first,
                defaults={
                    "last_name": last,
                    "grade": grade,
                    "user": users[login] if login else None,
                    "recording_consent": consent,
                },
            )
            children[parent_email] = child

        bookings = []
        for parent_email, tutor_email, subject_name, days, hour in PAIRS:
            student, tutor, subject = children[parent_email], users[tutor_email], subjects[subject_name]
            if not Allocation.objects.filter(student=student, subject=subject, status=AllocationStatus.ACTIVE).exists():
                Allocation.objects.create(
                    student=student, tutor=tutor, subject=subject, created_by=users["admin@k12.test"]
                )
            booking = (
                Booking.objects.filter(student=student, tutor=tutor, subject=subject).order_by("created_at").first()
            )
            if booking is None:
                day = (timezone.now() + timedelta(days=days)).date()
                starts_at = datetime.combine(day, time(hour, 0), tzinfo=UTC)
                booking = Booking.objects.create(
                    student=student,
                    tutor=tutor,
                    subject=subject,
                    starts_at=starts_at,
                    duration_minutes=60,
                    ends_at=starts_at + timedelta(minutes=60),
                    created_by=users[parent_email],
                )
            bookings.append(booking)

        demo_seeds_run(users=users, bookings=bookings)

        self.stdout.write(self.style.SUCCESS("Demo data ready. Password for every account: " + password))
        for email, _first, _last, role in PEOPLE:
            self.stdout.write(f"  {role:8} {email}")
        self.stdout.write(f"  parent1's session: {bookings[0].id}")
