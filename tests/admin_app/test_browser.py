"""The staff's desk in a real browser: Debian's chromium driven by Playwright against
pytest-django's live server (Playwright never downloads a browser; `make test` installs
chromium). Log in, see the KPIs and the chart, allocate a tutor with the matching list, read the
week timetable, the audit trail at 1,400 px and its CSV export; axe-core finds no serious or
critical violation on the desk's own pages, and no page logs an error (a CSP violation included).

Playwright's sync API keeps an asyncio loop marked as running in this thread while the browser
is open, and Django refuses ORM calls from a thread with a running loop. Rather than switching
that safety off (DJANGO_ALLOW_ASYNC_UNSAFE), the test touches the database only before the
browser starts and after it has closed; the live server answers from its own thread.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import RequestFactory
from playwright.sync_api import expect, sync_playwright

from admin_app import selectors
from admin_app.admin.core import match_label
from k12 import services
from k12.models import Allocation, Notification
from sessions_app.chat.moderation import message_hide, message_report
from sessions_app.chat.services import message_create
from tests.conftest import PASSWORD
from tests.e2e.browser import axe_violations, launch_chromium, watch_console

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # expect()'s own default is 5 s, short for a loaded 2-core machine


def pick_student(page, name: str) -> None:
    """The student field is the admin's autocomplete (select2, served by the admin itself)."""
    page.click(".field-student .select2-selection")
    page.fill(".select2-search__field", name.split()[0])
    page.locator(".select2-results__option", has_text=name).click()


def log_in(browser, live_server, admin, width: int):
    page = browser.new_page(viewport={"width": width, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    errors = watch_console(page)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#staff-dashboard")).to_be_visible()
    return page, errors, external


def test_staff_allocate_in_the_browser(world, desk_admin, live_server, mailoutbox):
    # given (database work before the browser starts)
    desk_admin.set_password(PASSWORD)
    desk_admin.save(update_fields=["password"])
    stats = selectors.dashboard_stats()
    per_day = selectors.sessions_per_day()
    busy_days = sum(1 for point in per_day if point.sessions)
    tom_for_physics = [match_label(t) for t in selectors.tutor_matches(subject=world.physics, student=world.child)]
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page, errors, external = log_in(browser, live_server, desk_admin, 1280)

            # the KPIs and the chart
            for key, value in stats.items():
                expect(page.locator(f'[data-kpi="{key}"] .kpi-value')).to_have_text(str(value))
            expect(page.locator('[data-kpi="studentsWithoutTutor"] .kpi-hint')).to_have_text(
                "no active allocation at all, in any subject"
            )
            chart = page.locator("#sessions-chart")
            expect(chart).to_be_visible()
            expect(chart.locator("g.day")).to_have_count(selectors.CHART_DAYS)
            expect(chart.locator("rect.bar:not(.empty)")).to_have_count(busy_days)
            assert chart.bounding_box()["width"] > 300
            # what a coordinator must not touch is not offered
            for name in ("Groups", "Outstanding tokens", "Blacklisted tokens"):
                expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
            assert axe_violations(page, errors) == []
            page.screenshot(path=str(ARTIFACTS / "staff-desk-dashboard.png"), full_page=True)

            # allocating: once Sam and Physics are chosen, only Physics tutors, with their load
            page.click("text=Allocate a tutor")
            pick_student(page, "Sam Parker")
            page.select_option("#id_subject", label="Physics")
            expect(page.locator("#tutor-matches-status")).to_have_text("1 tutor teaches Physics, best fit first.")
            expect(page.locator("#id_tutor option")).to_have_text(["---------", *tom_for_physics])
            assert axe_violations(page, errors) == []
            page.screenshot(path=str(ARTIFACTS / "staff-desk-allocate-matches.png"), full_page=True)
            page.select_option("#id_tutor", label=tom_for_physics[0])
            page.click("input[name=_save]")
            expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
            expect(page.locator("#result_list")).to_contain_text("Physics")

            # Mia and English: Emma, the one English tutor, already teaches her, so nobody is offered
            page.goto(f"{live_server.url}/admin/k12/allocation/add/")
            pick_student(page, "Mia Quinn")
            page.select_option("#id_subject", label="English")
            expect(page.locator("#tutor-matches-status")).to_have_text(
                "No tutor is free to teach English to this student."
            )
            expect(page.locator("#id_tutor option")).to_have_text(["---------"])
            assert errors == []
        finally:
            browser.close()

    # then (database work after the browser has closed)
    assert external == []  # nothing from a CDN or anywhere else
    assert Allocation.objects.filter(student=world.child, subject=world.physics, tutor=world.tutor).count() == 1
    assert not Allocation.objects.filter(student=world.other_child, tutor=world.tutor).exists()
    assert list(Notification.objects.values_list("user_id", "kind")) == [(world.tutor.id, "allocation_created")]
    assert [m.to for m in mailoutbox] == [[world.tutor.email]]
    assert (ARTIFACTS / "staff-desk-dashboard.png").stat().st_size > 0


def test_staff_read_the_timetable_and_the_audit_trail_and_export_it(world, desk_admin, live_server):
    # given: a cancelled session next to the scheduled one, a reported and hidden message
    desk_admin.set_password(PASSWORD)
    desk_admin.save(update_fields=["password"])
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    cancelled = services.booking_create(
        created_by=world.parent,
        student=world.child,
        tutor=world.tutor,
        subject=world.math,
        starts_at=world.booking.starts_at - timedelta(hours=4),
        duration_minutes=45,
    )
    services.booking_cancel(booking=cancelled, cancelled_by=world.parent, reason="ill")
    message = message_create(booking=world.booking, sender=world.tutor, text="see you at the library")[0]
    message_report(message=message, reporter=world.parent, reason="personal_info", request=request)
    message_hide(message=message, moderator=world.admin, reason="contact", request=request)
    week = selectors.monday_of(world.booking.starts_at.date())

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page, errors, external = log_in(browser, live_server, desk_admin, 1400)

            # the timetable of the week with the world's sessions
            page.get_by_role("link", name="Week timetable").click()
            page.goto(f"{live_server.url}/admin/timetable/?week={week.isoformat()}")
            table = page.locator("#timetable")
            tom = table.locator(f'tr[data-tutor="{world.tutor.id}"]')
            expect(tom.locator("li.session")).to_have_count(2)
            expect(tom.locator("li.status-cancelled del")).to_contain_text("Sam Parker · Math")
            expect(tom.locator("li.status-scheduled")).to_contain_text("Sam Parker · Math")
            assert axe_violations(page, errors) == []
            page.screenshot(path=str(ARTIFACTS / "staff-desk-timetable.png"), full_page=True)

            # English only: Emma's row, not Tom's; the next week keeps the subject
            page.select_option("#id_subject", label="English")
            page.get_by_role("button", name="Show").click()
            expect(table.locator(f'tr[data-tutor="{world.tutor.id}"]')).to_have_count(0)
            page.get_by_role("link", name="Next week →").click()
            expect(page.locator("#id_subject option:checked")).to_have_text("English")
            expect(table).to_have_attribute("data-week", (week + timedelta(days=7)).isoformat())

            # a session links to its page
            page.goto(f"{live_server.url}/admin/timetable/?week={week.isoformat()}")
            tom.locator("li.status-cancelled a").click()
            expect(page.locator(".field-status .readonly")).to_have_text("Cancelled")

            # the audit trail: named targets with links, actor, address, within 1,400 px
            page.goto(f"{live_server.url}/admin/k12/auditevent/")
            hidden = page.locator("#result_list tbody tr", has_text="Message hidden")
            expect(hidden.get_by_role("link", name="Message by Tom: “see you at the library”")).to_be_visible()
            expect(hidden.get_by_role("link", name="Ada Admin <admin@example.test>")).to_be_visible()
            expect(hidden).to_contain_text("203.0.113.7")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400
            page.screenshot(path=str(ARTIFACTS / "staff-desk-audit-1400.png"), full_page=True)

            # its CSV export, with the changelist's filter
            page.goto(f"{live_server.url}/admin/k12/auditevent/?action__exact=message.hidden")
            with page.expect_download() as download:
                page.get_by_role("link", name="Export CSV").click()
            table_rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
            assert table_rows[0][:4] == ["id", "time", "action", "actor"]
            assert [(row[2], row[3], row[7]) for row in table_rows[1:]] == [
                ("message.hidden", "admin@example.test", "203.0.113.7")
            ]
            assert errors == []
        finally:
            browser.close()
    assert external == []
