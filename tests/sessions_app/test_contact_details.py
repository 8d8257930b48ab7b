"""Contact details in messages are flagged automatically: what is found (and what is not, in
ordinary lesson chat), the report it raises, and that delivery never waits for it."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from asgiref.sync import sync_to_async

from k12.models import AuditAction, AuditEvent
from sessions_app.chat.contact_details import find_contact_details
from sessions_app.chat.services import message_create
from sessions_app.models import MessageReport, SessionMessage
from tests.sessions_app.contact_corpus import CONTACT, ORDINARY


def url(booking) -> str:
    return f"/api/sessions/{booking.id}/messages"


# --- What is found ----------------------------------------------------------------------------


def test_ordinary_lesson_chat_is_never_flagged():
    assert len(ORDINARY) >= 300
    flagged = {line: [s.text for s in find_contact_details(line)] for line in ORDINARY}
    flagged = {line: spans for line, spans in flagged.items() if spans}
    print(f"\nordinary lesson chat: {len(flagged)} false positives in {len(ORDINARY)} lines")
    assert flagged == {}


def test_contact_details_are_detected():
    assert len(CONTACT) >= 100
    missed = [line for line in CONTACT if not find_contact_details(line)]
    rate = 1 - len(missed) / len(CONTACT)
    print(f"\ncontact details: {len(CONTACT) - len(missed)} of {len(CONTACT)} detected ({rate:.1%}); missed: {missed}")
    assert rate >= 0.95


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on 07700 900123 ok", [("phone", "07700 900123")]),
        ("my number is 555-123-4567", [("phone", "555-123-4567")]),
        ("email me at sam.p@gmail.com please", [("email", "sam.p@gmail.com")]),
        ("sam dot parker at gmail dot com", [("email", "sam dot parker at gmail dot com")]),
        ("snap: sammy_22", [("social", "snap: sammy_22")]),
        ("ok add me on discord later", [("social", "add me on discord")]),
        ("link https://t.me/tutortom now", [("social", "https://t.me/tutortom")]),
        ("join https://meet.google.com/abc-defg-hij", [("meeting_link", "https://meet.google.com/abc-defg-hij")]),
        (
            "text 415.555.0100 or tom@outlook.com",
            [("phone", "415.555.0100"), ("email", "tom@outlook.com")],
        ),
        ("12 × 8 = 96, and 3.14159265 is pi, on 12/03/2026 at 16:30 for $35.00", []),
    ],
)
def test_spans_name_the_kind_and_the_exact_text(text, expected):
    spans = find_contact_details(text)
    assert [(s.kind, s.text) for s in spans] == expected
    for span in spans:
        assert text[span.start : span.end] == span.text


def test_the_allow_list_lets_the_schools_own_details_through(settings):
    settings.CONTACT_DETAILS_ALLOW = ["school.example.org", "+1 (202) 555-0100"]
    assert find_contact_details("office@school.example.org or mail.school.example.org/help") == []
    assert find_contact_details("ring the office on 202-555-0100") == []
    assert [s.text for s in find_contact_details("or sam@gmail.com, 202-555-0199")] == ["sam@gmail.com", "202-555-0199"]
    assert [s.text for s in find_contact_details("notschool.example.org.evil@gmail.com")] != []


def test_extra_patterns_add_kinds_of_contact_detail(settings):
    assert find_contact_details("find me on myspace: sam_p") == []
    settings.CONTACT_DETAILS_EXTRA_PATTERNS = [r"\bmyspace\b[^,.]*"]
    assert [(s.kind, s.text) for s in find_contact_details("find me on myspace: sam_p")] == [
        ("custom", "myspace: sam_p")
    ]


def test_the_phone_region_setting_reads_national_numbers(settings):
    # a German landline in national format is a number only when read as German
    settings.CONTACT_DETAILS_PHONE_REGION = "US"
    assert find_contact_details("ruf an: 030 901820") == []
    settings.CONTACT_DETAILS_PHONE_REGION = "DE"
    assert [s.text for s in find_contact_details("ruf an: 030 901820")] == ["030 901820"]


# --- The report message_create raises ---------------------------------------------------------


def test_a_message_with_contact_details_raises_a_report_with_its_spans(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.tutor).post(url(world.booking), {"text": "text me on 07700 900123 x"}, format="json")
    assert response.status_code == 201
    report = MessageReport.objects.get()
    assert report.message_id == SessionMessage.objects.get().id
    assert report.reporter_id is None and report.reason == "contact_details" and report.status == "open"
    assert report.matched_spans == [{"kind": "phone", "start": 11, "end": 23, "text": "07700 900123"}]
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_REPORTED)
    assert event.actor_id is None and event.data["reason"] == "contact_details" and event.data["kinds"] == ["phone"]
    # delivered as usual: everyone reads it, nothing hidden
    assert api(world.parent).get(url(world.booking)).json()[0]["text"] == "text me on 07700 900123 x"


def test_the_report_is_written_after_the_broadcast(world, django_capture_on_commit_callbacks):
    reports_at_broadcast = []

    def group_send(group, message):
        reports_at_broadcast.append(MessageReport.objects.count())

    with mock.patch("sessions_app.chat.services.realtime.group_send", side_effect=group_send):
        with django_capture_on_commit_callbacks(execute=True):
            message_create(booking=world.booking, sender=world.tutor, text="snap: sammy_22")
    assert reports_at_broadcast == [0]
    assert MessageReport.objects.filter(reason="contact_details").count() == 1


def test_a_failing_screen_neither_fails_nor_holds_the_message(world, api, caplog, django_capture_on_commit_callbacks):
    sent = []
    with (
        mock.patch("sessions_app.chat.moderation.find_contact_details", side_effect=RuntimeError("boom")),
        mock.patch("sessions_app.chat.services.realtime.group_send", side_effect=lambda *a: sent.append(a)),
        caplog.at_level("ERROR"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api(world.tutor).post(url(world.booking), {"text": "snap: sammy_22"}, format="json")
    assert response.status_code == 201 and len(sent) == 1
    assert MessageReport.objects.count() == 0
    assert "could not screen message" in caplog.text


def test_a_clean_message_costs_no_extra_query(
    world, api, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client = api(world.parent)
    # the viewer and the session, then the one statement that stores the message; the broadcast
    # and the screening run on commit and read nothing; the one statement on commit marks the
    # missed-message digests of the participants not in the room
    with django_assert_num_queries(3), django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(url(world.booking), {"text": "Page 42, question 7: 12 × 8 = 96"}, format="json").status_code
            == 201
        )
    # a flagged one adds the report and its audit event, in a savepoint of their own (the
    # digests the first message marked are still pending: nothing to mark)
    with django_assert_num_queries(6):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(url(world.booking), {"text": "call 07700 900123"}, format="json").status_code == 201
    assert MessageReport.objects.count() == 1


def test_a_retry_raises_no_second_report(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = message_create(
            booking=world.booking, sender=world.tutor, text="snap: x_1", client_id=str(world.booking.id)
        )
        again, created = message_create(
            booking=world.booking, sender=world.tutor, text="snap: x_1", client_id=str(world.booking.id)
        )
    assert not created and again.id == first.id
    assert MessageReport.objects.count() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_live_room_path_is_screened_too(world):
    from tests.sessions_app.test_consumer import joined

    parent, _ = await joined(world.parent, world.booking)
    tutor, _ = await joined(world.tutor, world.booking)
    await tutor.send_json_to({"type": "sendMessage", "sessionId": str(world.booking.id), "text": "insta @sam.p13"})
    frame = await parent.receive_json_from()
    assert frame["type"] == "newMessage" and frame["message"]["text"] == "insta @sam.p13"
    reports = await sync_to_async(list)(MessageReport.objects.values_list("reason", "matched_spans"))
    assert reports == [("contact_details", [{"kind": "social", "start": 0, "end": 14, "text": "insta @sam.p13"}])]
    for comm in (parent, tutor):
        await comm.disconnect()
    json.dumps(reports)  # stored spans are plain JSON
