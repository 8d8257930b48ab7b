"""A JSON answer is data, never a document: it carries the strictest policy (nothing loads,
nothing frames it). Pages keep the full policy."""

from __future__ import annotations

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def test_an_api_answer_carries_the_strict_policy(world, api):
    response = api(world.parent).get("/api/sessions")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == API_POLICY


def test_an_api_error_carries_it_too(client):
    response = client.get("/api/sessions")
    assert response.status_code == 401
    assert response["Content-Security-Policy"] == API_POLICY


def test_a_page_keeps_the_full_policy(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert policy != API_POLICY


def test_a_json_document_of_another_json_type_is_data_too(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200 and response["Content-Type"].endswith("+json")
    assert response["Content-Security-Policy"] == API_POLICY
