"""The demo set's parts from the apps built on the core: ``manage.py seed_demo`` creates the core's
accounts, subjects, allocations and sessions, then calls what each app registered here from its
AppConfig.ready() (the chat: a few messages in parent1's session). The core names no app."""

from __future__ import annotations

from collections.abc import Callable

from k12.models import Booking, User

# seed(users={email: user}, bookings=[parent1's session, parent2's session]); idempotent
DemoSeed = Callable[..., None]
_seeds: dict[str, DemoSeed] = {}


def demo_seed_register(name: str, seed: DemoSeed) -> None:
    _seeds[name] = seed


def demo_seeds_run(*, users: dict[str, User], bookings: list[Booking]) -> None:
    for seed in _seeds.values():
        seed(users=users, bookings=bookings)
