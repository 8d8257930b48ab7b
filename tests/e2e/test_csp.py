"""The Content-Security-Policy in a real browser: every page people open (the web client, the
Django admin, Swagger UI) is served with the strict policy and runs without one violation."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils.crypto import get_random_string
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.browser import csp_violations

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live"), pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 20_000


@pytest.fixture
def staff_and_parent(world):
    """Passwords the servers check (the test settings hash with MD5, k12.settings does not);
    the admin a superuser, as seed_demo makes admin@k12.test."""
    for user in (world.parent, world.admin):
        user.password = PBKDF2PasswordHasher().encode(PASSWORD, get_random_string(12), iterations=1000)
    world.admin.is_superuser = True
    world.parent.save(update_fields=["password"])
    world.admin.save(update_fields=["password", "is_superuser"])
    return world


def policy(url: str) -> dict[str, list[str]]:
    header = requests.get(url, timeout=10, allow_redirects=False).headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/login/", "/admin/login/", "/api/docs/"])
def test_every_page_carries_the_strict_policy(daphnes, path):
    directives = policy(daphnes[0].http + path)
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval, nothing foreign
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["style-src"]


def test_a_json_answer_allows_nothing(daphnes):
    # data, never a document: nothing in it loads, nothing frames it
    assert policy(daphnes[0].http + "/api/me") == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def test_web_client_admin_and_swagger_run_without_a_violation(staff_and_parent, daphnes, chromium):
    world = staff_and_parent
    base = daphnes[0].http
    session_id = str(world.booking.id)

    parent = chromium.new_context().new_page()
    parent.set_default_timeout(TIMEOUT_MS)
    parent_violations = csp_violations(parent)
    parent.goto(f"{base}/login/")
    parent.get_by_label("Email").fill(world.parent.email)
    parent.get_by_label("Password").fill(PASSWORD)
    parent.get_by_role("button", name="Log in").click()
    expect(parent.get_by_role("heading", name="My sessions")).to_be_visible(timeout=TIMEOUT_MS)
    parent.goto(f"{base}/sessions/{session_id}/")
    expect(parent.locator("#messages")).to_be_visible(timeout=TIMEOUT_MS)
    parent.wait_for_load_state("networkidle")

    staff = chromium.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    staff.set_default_timeout(TIMEOUT_MS)
    staff_violations = csp_violations(staff)
    staff.goto(f"{base}/admin/")
    staff.fill("#id_username", world.admin.email)
    staff.fill("#id_password", PASSWORD)
    staff.click("input[type=submit]")
    expect(staff.locator("#staff-dashboard")).to_be_visible(timeout=TIMEOUT_MS)
    # the dashboard's own inline style applied under the nonce
    assert staff.locator("#staff-dashboard .kpis").evaluate("el => getComputedStyle(el).display") == "grid"
    for page in ("k12/booking/", "k12/allocation/add/", "k12/user/"):
        staff.goto(f"{base}/admin/{page}")
        staff.wait_for_load_state("networkidle")

    staff.goto(f"{base}/api/docs/")
    expect(staff.locator(".swagger-ui .info .title")).to_contain_text("K12 tutoring API", timeout=TIMEOUT_MS)
    staff.locator(".opblock-summary").first.click()
    staff.wait_for_load_state("networkidle")

    assert parent_violations == []
    assert staff_violations == []
