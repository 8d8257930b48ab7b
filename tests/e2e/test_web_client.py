"""The built-in web client in a real browser: Debian's chromium (Playwright) against the two real
daphne processes, over Redis and the test PostgreSQL database. A parent (on a phone-sized screen,
on one server) and the tutor (on a desktop, on the other) share a session: they chat live,
markup stays text, a parent cut off from the network catches up on rejoining with `after`, and a
clip the tutor uploads plays, seekably, on the parent's side.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from playwright.sync_api import expect
from rest_framework_simplejwt.tokens import AccessToken

from sessions_app.chat import services
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS
from tests.sessions_app.conftest import make_clip

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 20_000
# expect() has its own 5 s default, too short for this 2-core machine under a full parallel run
expect.set_options(timeout=TIMEOUT_MS)
XSS = '<script>window.__pwned = true</script><img src=x onerror="window.__pwned = true"> <b>bold?</b>'


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def eventually(check, timeout: float = 20.0):
    """Poll ``check`` until it returns a truthy value; the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


class Watch:
    """What a page did that the test wants to know: errors, foreign requests, frames, responses."""

    def __init__(self, page, origin: str):
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.frames_sent: list[dict] = []
        self.file_statuses: list[int] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda r: None if r.url.startswith(origin) else self.foreign.append(r.url))
        page.on("response", lambda r: self.file_statuses.append(r.status) if "/file?" in r.url else None)
        page.on("websocket", self._socket)

    def _socket(self, ws):
        ws.on("framesent", lambda payload: self.frames_sent.append(json.loads(payload)))

    def joins(self) -> list[dict]:
        return [f for f in self.frames_sent if f.get("type") == "joinSession"]


def log_in(browser, server, email: str, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch = Watch(page, server.http)
    page.goto(f"{server.http}/")
    expect(page).to_have_url(f"{server.http}/login/?next=/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My sessions")).to_be_visible()
    return context, page, watch


def messages(page):
    return page.locator("#messages .msg:not(.pending) .msg-text")


def test_parent_and_tutor_chat_catch_up_and_share_a_recording(people, daphnes, chromium):
    world = people
    # given: two servers, a session with one unread message for the parent, consent to record
    parent_server, tutor_server = daphnes
    session = world.booking
    api = f"{tutor_server.http}/api/sessions/{session.id}"
    welcome = requests.post(f"{api}/messages", json={"text": "Welcome, Sam!"}, headers=bearer(world.tutor), timeout=10)
    assert welcome.status_code == 201
    consent = requests.post(
        f"{parent_server.http}/api/students/{world.child.id}/recording-consent",
        json={"granted": True},
        headers=bearer(world.parent),
        timeout=10,
    )
    assert consent.status_code == 200
    clip = make_clip("webm", video="libvpx", audio="libopus", seconds=2.0)

    tutor_context, tutor, tutor_watch = log_in(
        chromium, tutor_server, world.tutor.email, viewport={"width": 1280, "height": 900}
    )
    parent_context, parent, parent_watch = log_in(
        chromium,
        parent_server,
        world.parent.email,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )

    # the parent's list: the session, with its unread badge
    card = parent.locator(f'.session[data-session-id="{session.id}"]')
    expect(card).to_contain_text("Math: Sam Parker with Tom")
    expect(card.locator(".badge.unread")).to_have_text("1 unread message")
    parent.screenshot(path=str(ARTIFACTS / "web-sessions-parent-phone.png"), full_page=True)

    # both open the room
    card.get_by_role("link").click()
    tutor.goto(f"{tutor_server.http}/sessions/{session.id}/")
    for page in (parent, tutor):
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(messages(page)).to_have_text(["Welcome, Sam!"])
    expect(tutor.locator("#upload")).to_be_visible()
    expect(parent.locator("#upload")).to_be_hidden()

    # when the parent types a message, the tutor sees it without a reload
    parent.get_by_role("textbox", name="Message").fill("Hello from Paula")
    parent.get_by_role("textbox", name="Message").press("Enter")
    expect(messages(tutor)).to_have_text(["Welcome, Sam!", "Hello from Paula"])

    # the tutor typing shows on the parent's side; then markup arrives as text
    tutor.get_by_role("textbox", name="Message").press_sequentially("<scr")
    expect(parent.locator("#typing")).to_have_text("Tom is typing…")
    tutor.get_by_role("textbox", name="Message").fill(XSS)
    tutor.get_by_role("button", name="Send").click()
    expect(messages(parent)).to_have_text(["Welcome, Sam!", "Hello from Paula", XSS])
    expect(parent.locator("#typing")).to_have_text("")
    # each message once on both sides (the sender's own broadcast copy is the same message)
    expect(messages(tutor)).to_have_text(["Welcome, Sam!", "Hello from Paula", XSS])
    assert parent.locator("#messages script, #messages img, #messages b").count() == 0
    assert parent.evaluate("window.__pwned") is None
    assert tutor.evaluate("window.__pwned") is None

    # the parent loses the network; the tutor posts meanwhile, over REST, to the other server
    last_seen = parent.locator("#messages .msg").last.get_attribute("data-id")
    joins_before = len(parent_watch.joins())
    parent_context.set_offline(True)
    expect(parent.locator("#conn")).to_have_attribute("data-state", "offline")
    missed = ["Missed one", "Missed two"]
    for text in missed:
        response = requests.post(f"{api}/messages", json={"text": text}, headers=bearer(world.tutor), timeout=10)
        assert response.status_code == 201
    expect(messages(tutor)).to_have_text(["Welcome, Sam!", "Hello from Paula", XSS, *missed])
    expect(parent.locator("#messages .msg-text", has_text="Missed")).to_have_count(0)

    # back online: the client rejoins from the last message it saw and shows what it missed
    parent_context.set_offline(False)
    expect(parent.locator("#conn")).to_have_attribute("data-state", "live")
    expect(messages(parent)).to_have_text(["Welcome, Sam!", "Hello from Paula", XSS, *missed])
    rejoin = parent_watch.joins()[joins_before:]
    assert rejoin and rejoin[0] == {"type": "joinSession", "sessionId": str(session.id), "after": last_seen}

    # the tutor uploads a clip; the progress bar reaches 100%
    tutor.get_by_label("Add a recording (audio or video)").set_input_files(
        files=[{"name": "lesson.webm", "mimeType": "video/webm", "buffer": clip}]
    )
    tutor.get_by_role("button", name="Upload").click()
    expect(tutor.locator("#upload-status")).to_have_text("Added lesson.webm.")
    expect(tutor.locator("#upload-progress")).to_have_js_property("value", 100)
    expect(tutor.locator("#upload-percent")).to_have_text("100%")
    expect(tutor.locator("#recordings .recording")).to_have_count(1)
    tutor.screenshot(path=str(ARTIFACTS / "web-room-tutor.png"), full_page=True)

    # the parent refreshes the list and plays it, then seeks (the signed link serves ranges)
    parent.get_by_role("button", name="Refresh list").click()
    video = parent.locator("#recordings video")
    expect(video).to_have_count(1)
    played = parent.evaluate(
        """async () => {
            const video = document.querySelector("#recordings video");
            video.muted = true;  // autoplay policy: a muted element may play without a gesture
            await video.play();
            await new Promise((resolve) => {
                const check = () => (video.currentTime > 0.3 ? resolve() : setTimeout(check, 50));
                check();
            });
            video.pause();
            const seeked = new Promise((resolve) => video.addEventListener("seeked", resolve, { once: true }));
            video.currentTime = 1.5;
            await seeked;
            return { readyState: video.readyState, duration: video.duration, currentTime: video.currentTime };
        }"""
    )
    assert played["readyState"] >= 2  # HAVE_CURRENT_DATA: there is a frame at the new position
    assert played["duration"] == pytest.approx(2.0, abs=0.25)
    assert played["currentTime"] == pytest.approx(1.5, abs=0.1)
    assert 206 in parent_watch.file_statuses  # the player asked for byte ranges and got them
    parent.locator("#messages").scroll_into_view_if_needed()
    parent.screenshot(path=str(ARTIFACTS / "web-room-parent-phone.png"), full_page=True)

    # the parent's read mark moved: no unread messages left on the API's list
    def unread():
        listed = requests.get(f"{parent_server.http}/api/sessions", headers=bearer(world.parent), timeout=10).json()
        return [s["unread"] for s in listed if s["id"] == str(session.id)] == [0]

    assert eventually(unread)

    # the tutor deletes the recording (it is theirs): gone from the list and from the API
    tutor.once("dialog", lambda dialog: dialog.accept())
    tutor.get_by_role("button", name="Delete lesson.webm").click()
    expect(tutor.locator("#recordings .recording")).to_have_count(0)
    listed = requests.get(f"{api}/recordings", headers=bearer(world.tutor), timeout=10)
    assert listed.json() == []

    for watch in (parent_watch, tutor_watch):
        assert watch.errors == []
        assert watch.foreign == []  # nothing from a CDN or anywhere else
    tutor_context.close()
    parent_context.close()


@pytest.fixture
def long_chat(people):
    for i in range(120):
        services.message_create(booking=people.booking, sender=people.tutor, text=f"m{i:03d}")
    return people


def test_history_pages_back_from_the_newest_with_load_older(long_chat, daphnes, chromium):
    # given a long chat (the room shows the newest 50 first)
    world = long_chat
    server = daphnes[0]
    context, page, watch = log_in(chromium, server, world.parent.email, viewport={"width": 1024, "height": 800})
    page.goto(f"{server.http}/sessions/{world.booking.id}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(messages(page)).to_have_count(50)
    expect(messages(page).first).to_have_text("m070")
    expect(messages(page).last).to_have_text("m119")

    # when the reader asks for older ones, from the keyboard
    older = page.get_by_role("button", name="Load older messages")
    older.focus()
    page.keyboard.press("Enter")
    expect(messages(page)).to_have_count(100)
    expect(messages(page).first).to_have_text("m020")
    page.keyboard.press("Enter")

    # then the whole history is there once, in order, and there is nothing older to load
    expect(messages(page)).to_have_count(120)
    expect(messages(page)).to_have_text([f"m{i:03d}" for i in range(120)])
    expect(older).to_be_hidden()
    expect(page.locator("#messages")).to_be_focused()  # focus did not fall back to the page
    assert watch.errors == []
    context.close()
