"""The family's web client as a daily tool, in Debian's chromium against the two daphne servers:
the room's landmarks (days, the first unread message and a jump to it, an empty chat, the
composer in view on a phone), reporting a message, the notifications bell updated live while
another person acts, sessions apart by upcoming and past with "Join", booking and cancelling,
recording consent per child, and the upload form only when an upload would be accepted. axe-core
finds no serious or critical violation on any page, and no page logs an error (a CSP violation
included). Screenshots in artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from k12.models import Booking, BookingStatus
from sessions_app.chat.services import message_create
from sessions_app.models import SessionMessage
from tests.conftest import book
from tests.e2e.browser import axe_violations, watch_console
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_web_client import bearer, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "timezone_id": "UTC"}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "timezone_id": "UTC"}


def open_as(chromium, server, email, **options):
    context, page, _ = log_in(chromium, server, email, **options)
    errors = watch_console(page)
    return context, page, errors


def clean(page, errors) -> None:
    assert axe_violations(page, errors) == []


@pytest.fixture
def chat(people):
    """Three messages two days ago (read by the parent), then 30 new ones from the tutor today."""
    world = people
    old = [message_create(booking=world.booking, sender=world.tutor, text=f"old {i}")[0] for i in range(3)]
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    SessionMessage.objects.filter(pk__in=[m.pk for m in old]).update(created_at=two_days_ago)
    requests_body = {"up_to": str(old[-1].pk)}
    for i in range(30):
        message_create(booking=world.booking, sender=world.tutor, text=f"new {i}")
    return world, requests_body


def test_the_room_opens_at_the_first_unread_with_days_and_a_report(chat, daphnes, chromium):
    world, read_body = chat
    server = daphnes[0]
    session = world.booking
    marked = requests.post(
        f"{server.http}/api/sessions/{session.id}/read", json=read_body, headers=bearer(world.parent), timeout=10
    )
    assert marked.status_code == 200

    context, page, errors = open_as(chromium, server, world.parent.email, **PHONE)
    page.goto(f"{server.http}/sessions/{session.id}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#messages .msg")).to_have_count(33)

    # a separator per day, the "new messages" line before the first unread, which is in view
    expect(page.locator("#messages .day-separator")).to_have_count(2)
    expect(page.locator("#messages .day-separator").last).to_have_text("Today")
    divider = page.locator("#first-unread")
    expect(divider).to_have_text("New messages")
    assert divider.evaluate("el => el.nextElementSibling.querySelector('.msg-text').textContent") == "new 0"
    expect(divider).to_be_in_viewport()
    expect(page.locator("#messages-empty")).to_be_hidden()

    # the composer is in view on a 390x844 phone without scrolling the page
    assert page.evaluate("window.scrollY") == 0
    for control in (page.get_by_role("textbox", name="Message"), page.get_by_role("button", name="Send")):
        box = control.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    clean(page, errors)
    page.screenshot(path=str(ARTIFACTS / "web-room-unread-phone.png"))

    # scrolled to the end, the jump brings the first unread back
    page.locator("#messages").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    jump = page.get_by_role("button", name="Jump to the first new message (30)")
    expect(jump).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "web-room-jump-phone.png"))
    jump.click()
    expect(divider).to_be_in_viewport()
    expect(jump).to_be_hidden()

    # reporting a message: the reason list, then the reporter sees it was sent
    page.get_by_role("button", name="Report the message from Tom").first.click()
    dialog = page.get_by_role("dialog", name="Report a message")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#report-quote")).to_have_text("Tom: old 0")
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog.locator("#report-status")).to_have_text("Choose a reason.")
    dialog.get_by_role("radio", name="Something else").check()
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog.locator("#report-status")).to_contain_text("Say what is wrong")
    dialog.get_by_role("radio", name="Bullying or unkind").check()
    clean(page, errors)
    page.screenshot(path=str(ARTIFACTS / "web-room-report-phone.png"))
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog).to_be_hidden()
    first = page.locator("#messages .msg").first
    expect(first.locator(".reported-note")).to_have_text("Reported")
    first_id = first.get_attribute("data-id")
    expect(page.locator("#announcer")).to_have_text("Thank you. The report was sent to the safeguarding team.")
    # the parent's own messages offer no report
    page.get_by_role("textbox", name="Message").fill("mine")
    page.get_by_role("button", name="Send").click()
    mine = page.locator("#messages .msg.mine:not(.pending)")
    expect(mine).to_have_count(1)
    expect(mine.get_by_role("button", name="Report")).to_have_count(0)
    assert errors == []
    context.close()

    # the report is stored: reporting the same message again is refused as a repeat
    again = requests.post(
        f"{server.http}/api/messages/{first_id}/report",
        json={"reason": "spam", "description": ""},
        headers=bearer(world.parent),
        timeout=10,
    )
    assert again.status_code == 409, again.text


def test_an_empty_chat_says_so(people, daphnes, chromium):
    world = people
    server = daphnes[1]
    context, page, errors = open_as(chromium, server, world.parent.email, **DESKTOP)
    page.goto(f"{server.http}/sessions/{world.booking.id}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#messages-empty")).to_be_visible()
    expect(page.locator("#messages-empty")).to_contain_text("No messages yet")
    expect(page.locator("#messages .day-separator")).to_have_count(0)
    clean(page, errors)
    page.screenshot(path=str(ARTIFACTS / "web-room-empty.png"))
    page.get_by_role("textbox", name="Message").fill("first!")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator("#messages-empty")).to_be_hidden()
    expect(page.locator("#messages .day-separator")).to_have_text(["Today"])
    assert errors == []
    context.close()


@pytest.fixture
def agenda(people):
    """Besides tomorrow's session: one starting in five minutes, one completed three days ago."""
    world = people
    soon = book(world.child, world.tutor, world.math, datetime.now(UTC) + timedelta(minutes=5), minutes=30)
    done = book(world.child, world.tutor, world.math, datetime.now(UTC) - timedelta(days=3), minutes=60)
    Booking.objects.filter(pk=done.pk).update(status=BookingStatus.COMPLETED)
    return world, soon, done


def booking_day() -> str:
    return (datetime.now(UTC) + timedelta(days=4)).date().isoformat()


def test_sessions_apart_join_book_cancel_and_the_bell_live(agenda, daphnes, chromium):
    world, soon, done = agenda
    parent_server, tutor_server = daphnes
    parent_context, parent, parent_errors = open_as(chromium, parent_server, world.parent.email, **DESKTOP)
    tutor_context, tutor, tutor_errors = open_as(chromium, tutor_server, world.tutor.email, **PHONE)

    # upcoming soonest first, "Join" on the one about to start; the past apart
    upcoming = parent.locator("#sessions .session")
    expect(upcoming).to_have_count(2)
    expect(upcoming.first).to_have_attribute("data-session-id", str(soon.id))
    expect(upcoming.first.get_by_role("link", name="Join")).to_be_visible()
    expect(upcoming.nth(1).get_by_role("link", name="Join")).to_have_count(0)
    expect(parent.locator("#past-sessions .session")).to_have_count(1)
    expect(parent.locator("#past-sessions .session .status")).to_have_text("completed")
    expect(parent.locator("#past-sessions .session").get_by_role("button", name="Cancel")).to_have_count(0)
    expect(parent.locator("#bell-count")).to_be_hidden()

    # booking outside the tutor's hours is refused before asking the server
    form = parent.locator("#book-form")
    expect(form.get_by_label("Subject and tutor")).to_have_value("0")
    expect(parent.locator("#book-availability")).to_have_text("Available every day 08:00–20:00 (UTC).")
    form.get_by_label("Day").fill(booking_day())
    form.get_by_label("Start time").fill("21:00")
    form.get_by_role("button", name="Book").click()
    expect(parent.locator("#book-status")).to_contain_text("Tom is not available then.")
    clean(parent, parent_errors)
    parent.screenshot(path=str(ARTIFACTS / "web-sessions-book-refused.png"), full_page=True)

    # inside them: booked, listed, and the parent's bell counts the "scheduled" notice live
    form.get_by_label("Start time").fill("10:00")
    form.get_by_role("button", name="Book").click()
    booked = parent.locator("#sessions .session.just-booked")
    expect(booked).to_contain_text("Math: Sam Parker with Tom")
    expect(upcoming).to_have_count(3)
    expect(parent.locator("#bell-count")).to_have_text("1")
    booked_id = booked.get_attribute("data-session-id")

    # the tutor, on another server, sees it and cancels it; the parent's bell counts that too
    tutor.reload()
    card = tutor.locator(f'#sessions .session[data-session-id="{booked_id}"]')
    expect(card).to_be_visible()
    tutor.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Cancel").click()
    expect(tutor.locator(f'#past-sessions .session[data-session-id="{booked_id}"] .status')).to_have_text("cancelled")
    clean(tutor, tutor_errors)
    tutor.screenshot(path=str(ARTIFACTS / "web-sessions-tutor-phone.png"), full_page=True)
    expect(parent.locator("#bell-count")).to_have_text("2")

    # the parent opens the bell: newest first; reading one marks it read and opens its session
    parent.get_by_role("button", name="Notifications, 2 unread").click()
    items = parent.locator("#notifications-list .notification")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Session cancelled: Math")
    expect(items.first).to_have_class("notification unread")
    clean(parent, parent_errors)
    parent.screenshot(path=str(ARTIFACTS / "web-bell-open.png"))
    items.nth(1).get_by_role("button").click()
    parent.wait_for_url(f"**/sessions/{booked_id}/")
    expect(parent.locator("#bell-count")).to_have_text("1")

    # the parent cancels tomorrow's session from the list
    parent.goto(f"{parent_server.http}/")
    parent.once("dialog", lambda dialog: dialog.accept())
    parent.locator(f'#sessions .session[data-session-id="{world.booking.id}"]').get_by_role(
        "button", name="Cancel"
    ).click()
    expect(parent.locator(f'#past-sessions .session[data-session-id="{world.booking.id}"] .status')).to_have_text(
        "cancelled"
    )
    expect(parent.locator("#sessions-status")).to_contain_text("Cancelled Math")
    parent.screenshot(path=str(ARTIFACTS / "web-sessions-parent.png"), full_page=True)
    assert parent_errors == [] and tutor_errors == []
    parent_context.close()
    tutor_context.close()

    def get(path):
        response = requests.get(f"{parent_server.http}{path}", headers=bearer(world.parent), timeout=10)
        assert response.status_code == 200
        return response.json()

    mine = get(f"/api/sessions/{booked_id}")
    assert (mine["status"], mine["starts_at"][11:16], mine["duration_minutes"]) == ("cancelled", "10:00", 60)
    assert get(f"/api/sessions/{world.booking.id}")["status"] == "cancelled"
    notices = get("/api/notifications")  # newest first
    assert [n["kind"] for n in notices] == ["booking_cancelled", "booking_cancelled", "booking_created"]
    assert [n["read_at"] is not None for n in notices] == [False, False, True]  # the one opened


def test_the_parent_sets_recording_consent_per_child_and_the_upload_form_follows(people, daphnes, chromium):
    world = people
    server = daphnes[0]
    parent_context, parent, parent_errors = open_as(chromium, server, world.parent.email, **PHONE)
    tutor_context, tutor, tutor_errors = open_as(chromium, daphnes[1], world.tutor.email, **DESKTOP)

    # with consent the tutor has the upload form; a refused file leaves the bar at 0, not 100%
    tutor.goto(f"{daphnes[1].http}/sessions/{world.booking.id}/")
    expect(tutor.locator("#upload")).to_be_visible()
    tutor.get_by_label("Add a recording (audio or video)").set_input_files(
        files=[{"name": "notes.webm", "mimeType": "video/webm", "buffer": b"not a video at all" * 1000}]
    )
    tutor.get_by_role("button", name="Upload").click()
    expect(tutor.locator("#upload-status")).to_contain_text("Upload failed:")
    expect(tutor.locator("#upload-progress")).to_have_js_property("value", 0)
    expect(tutor.locator("#upload-percent")).to_have_text("0%")
    tutor_errors[:] = [e for e in tutor_errors if "400" not in e]  # the refusal itself
    clean(tutor, tutor_errors)
    tutor.screenshot(path=str(ARTIFACTS / "web-room-upload-refused.png"), full_page=True)

    # the parent withdraws consent for Sam, with what it means in view
    parent.get_by_role("link", name="My children").click()
    expect(parent.get_by_role("heading", name="Recording sessions")).to_be_visible()
    switch = parent.get_by_role("switch", name="Allow recording of Sam's sessions")
    expect(switch).to_be_checked()
    clean(parent, parent_errors)
    switch.uncheck()
    expect(parent.locator("#children-status")).to_have_text("Saved: recording not allowed for Sam Parker.")
    expect(parent.locator(".consent-state")).to_contain_text("Not allowed")
    parent.screenshot(path=str(ARTIFACTS / "web-children-consent-phone.png"), full_page=True)
    parent.reload()
    expect(parent.get_by_role("switch", name="Allow recording of Sam's sessions")).not_to_be_checked()

    # the tutor's room no longer offers the upload
    tutor.reload()
    expect(tutor.locator("#conn")).to_have_attribute("data-state", "live")
    expect(tutor.locator("#upload")).to_be_hidden()
    assert parent_errors == [] and tutor_errors == []
    parent_context.close()
    tutor_context.close()


def test_every_page_passes_axe(people, daphnes, chromium):
    """The pages not covered above: login, an error page, and a tutor's children page refused."""
    world = people
    server = daphnes[0]
    context = chromium.new_context(**DESKTOP)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(f"{server.http}/login/")
    clean(page, errors)
    page.get_by_label("Email").fill(world.tutor.email)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    clean(page, errors)
    errors.clear()  # the refused login's own status
    context.close()

    context, page, errors = open_as(chromium, server, world.tutor.email, **DESKTOP)
    page.goto(f"{server.http}/sessions/{world.other_booking.id}/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.goto(f"{server.http}/children/")
    expect(page.get_by_text("This page is for parents.")).to_be_visible()
    clean(page, errors)
    assert [e for e in errors if "403" not in e] == []
    context.close()
