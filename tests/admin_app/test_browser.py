"""The staff's desk in a real browser: Debian's chromium driven by Playwright against
pytest-django's live server (Playwright never downloads a browser; `make test` installs
chromium). Log in, see the KPIs and the chart, allocate a tutor through the admin form, and see
the service's validation error for a tutor who does not teach the subject.

Playwright's sync API keeps an asyncio loop marked as running in this thread while the browser
is open, and Django refuses ORM calls from a thread with a running loop. Rather than switching
that safety off (DJANGO_ALLOW_ASYNC_UNSAFE), the test touches the database only before the
browser starts and after it has closed; the live server answers from its own thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from admin_app import selectors
from k12.models import Allocation, Notification
from tests.conftest import PASSWORD
from tests.e2e.browser import launch_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # expect()'s own default is 5 s, short for a loaded 2-core machine


def pick_student(page, name: str) -> None:
    """The student field is the admin's autocomplete (select2, served by the admin itself)."""
    page.click(".field-student .select2-selection")
    page.fill(".select2-search__field", name.split()[0])
    page.locator(".select2-results__option", has_text=name).click()


def test_staff_allocate_in_the_browser(world, desk_admin, live_server, mailoutbox):
    # given (database work before the browser starts)
    desk_admin.set_password(PASSWORD)
    desk_admin.save(update_fields=["password"])
    stats = selectors.dashboard_stats()
    per_day = selectors.sessions_per_day()
    busy_days = sum(1 for point in per_day if point.sessions)
    tom = "Tom <tutor@example.test> (Math, Physics)"
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            external = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None)

            # log in
            page.goto(f"{live_server.url}/admin/")
            page.fill("#id_username", desk_admin.email)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")

            # the KPIs and the chart
            expect(page.locator("#staff-dashboard")).to_be_visible()
            for key, value in stats.items():
                expect(page.locator(f'[data-kpi="{key}"] .kpi-value')).to_have_text(str(value))
            chart = page.locator("#sessions-chart")
            expect(chart).to_be_visible()
            expect(chart.locator("g.day")).to_have_count(selectors.CHART_DAYS)
            expect(chart.locator("rect.bar:not(.empty)")).to_have_count(busy_days)
            assert chart.bounding_box()["width"] > 300
            page.screenshot(path=str(ARTIFACTS / "staff-desk-dashboard.png"), full_page=True)

            # allocate Tom to Sam for Physics through the admin form
            page.click("text=Allocate a tutor")
            pick_student(page, "Sam Parker")
            page.select_option("#id_subject", label="Physics")
            page.select_option("#id_tutor", label=tom)
            page.click("input[name=_save]")
            expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
            expect(page.locator("#result_list")).to_contain_text("Physics")

            # Tom does not teach English: the service's error, on the subject field
            page.goto(f"{live_server.url}/admin/k12/allocation/add/")
            pick_student(page, "Mia Quinn")
            page.select_option("#id_subject", label="English")
            page.select_option("#id_tutor", label=tom)
            page.click("input[name=_save]")
            expect(page.locator(".field-subject .errorlist")).to_have_text("This tutor does not teach that subject.")
            page.screenshot(path=str(ARTIFACTS / "staff-desk-allocation-error.png"), full_page=True)
        finally:
            browser.close()

    # then (database work after the browser has closed)
    assert external == []  # nothing from a CDN or anywhere else
    assert Allocation.objects.filter(student=world.child, subject=world.physics, tutor=world.tutor).count() == 1
    assert not Allocation.objects.filter(student=world.other_child, tutor=world.tutor).exists()
    assert list(Notification.objects.values_list("user_id", "kind")) == [(world.tutor.id, "allocation_created")]
    assert [m.to for m in mailoutbox] == [[world.tutor.email]]
    assert (ARTIFACTS / "staff-desk-dashboard.png").stat().st_size > 0
