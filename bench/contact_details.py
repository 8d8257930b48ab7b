"""Contact-detail detection on the test corpus: false positives on ordinary lesson chat, the
share of contact-detail lines detected, and the CPU cost per message (the screening runs after
each message's broadcast).

    .venv/bin/python bench/contact_details.py            # prints the table
    .venv/bin/python bench/contact_details.py --smoke    # one round instead of 20
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k12.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django  # noqa: E402

django.setup()

from common import add_arguments  # noqa: E402  (bench/common.py)

from sessions_app.chat.contact_details import find_contact_details  # noqa: E402
from tests.sessions_app.contact_corpus import CONTACT, ORDINARY  # noqa: E402


def per_line_us(lines: list[str], rounds: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for line in lines:
            find_contact_details(line)
    return (time.perf_counter() - start) / (rounds * len(lines)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, database=False)
    rounds = 1 if parser.parse_args().smoke else 20
    false_positives = [line for line in ORDINARY if find_contact_details(line)]
    missed = [line for line in CONTACT if not find_contact_details(line)]
    detected = len(CONTACT) - len(missed)
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")
    print("| corpus | lines | flagged | rate | CPU per message |")
    print("|---|---|---|---|---|")
    print(
        f"| ordinary lesson chat | {len(ORDINARY)} | {len(false_positives)} | "
        f"{len(false_positives) / len(ORDINARY):.1%} false positives | {per_line_us(ORDINARY, rounds):.0f} µs |"
    )
    print(
        f"| contact details | {len(CONTACT)} | {detected} | {detected / len(CONTACT):.1%} detected | "
        f"{per_line_us(CONTACT, rounds):.0f} µs |"
    )
    for line in false_positives:
        print(f"false positive: {line!r}")
    for line in missed:
        print(f"missed: {line!r}")


if __name__ == "__main__":
    main()
