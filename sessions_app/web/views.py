"""The built-in web client's pages: log in and out, my sessions, a session room.

The pages are shells. Their JavaScript (static/web/) reads and writes everything through the
public API, REST and the live room, as any other client would; a view here only decides who may
open the page and passes the session id from the URL.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static

from k12 import permissions
from k12.errors import Forbidden, NotFound
from k12.throttling import (
    LoginAccountThrottle,
    LoginAccountTotalThrottle,
    LoginIPThrottle,
    login_email,
    refund_success,
)
from sessions_app.chat import moderation, services


class FormLogin:
    """The API's per-account login counters, keyed by the form's ``username`` field (the email)."""

    def email(self, request) -> str | None:
        return login_email(SimpleNamespace(data={"email": request.POST.get("username", "")}))


class FormLoginAccountThrottle(FormLogin, LoginAccountThrottle):
    pass


class FormLoginAccountTotalThrottle(FormLogin, LoginAccountTotalThrottle):
    pass


def _login_wait(request: HttpRequest) -> int | None:
    """Seconds to wait if this login attempt is over the API's limits, else None.

    The form and ``POST /api/auth/token`` are two doors to the same passwords, so they share one
    budget: the same throttles, counted under the same keys (address, and the account tried)."""
    for throttle in (LoginIPThrottle(), FormLoginAccountThrottle(), FormLoginAccountTotalThrottle()):
        if not throttle.allow_request(request, None):
            return int(throttle.wait() or 1)
    return None


class EmailAuthenticationForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.input_type = "email"  # the email keyboard on a phone


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "web/login.html"
    redirect_authenticated_user = True
    next_page = "web-sessions"

    def post(self, request, *args, **kwargs):
        wait = _login_wait(request)
        if wait is not None:
            context = self.get_context_data(form=self.get_form(), retry_after=wait)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        refund_success(self.request)  # the account limits count failed attempts
        return super().form_valid(form)


class LogoutView(auth_views.LogoutView):
    next_page = "web-login"


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the Django admin's)."""
    return HttpResponsePermanentRedirect(static("web/favicon.svg"))


@login_required(login_url="web-login")
def sessions_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/sessions.html")


@login_required(login_url="web-login")
def children_page(request: HttpRequest) -> HttpResponse:
    # The page lists what GET /api/students returns; recording consent is the parent's to give.
    if not permissions.adds_own_children(request.user):
        reason = "This page is for parents."
        return render(request, "web/error.html", {"status": 403, "reason": reason}, status=403)
    return render(request, "web/children.html")


@login_required(login_url="web-login")
def room_page(request: HttpRequest, session_id: str) -> HttpResponse:
    # The API's own guarded fetch: someone else's session is a 403 page, a missing one a 404,
    # exactly as the API would answer the page's first request.
    try:
        booking = permissions.access_booking(request.user, session_id, "view")
    except NotFound:
        return render(request, "web/error.html", {"status": 404, "reason": "No such session."}, status=404)
    except Forbidden:
        reason = "This session is not one of yours."
        return render(request, "web/error.html", {"status": 403, "reason": reason}, status=403)
    # the forms' maxlength are the rules' own limits (room.js checks the composer's)
    limits = {
        "message_max_length": services.MAX_MESSAGE_LENGTH,
        "report_description_max_length": moderation.MAX_DESCRIPTION,
        "typing_every_ms": int(settings.WS_TYPING_INTERVAL_SECONDS * 1000),
    }
    return render(request, "web/room.html", {"session_id": booking.pk, **limits})
