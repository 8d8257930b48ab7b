"""Strict query strings: an unknown parameter, a blank one or a value a filter cannot read is a
400 naming the parameter, on every list; the filters themselves still filter."""

from __future__ import annotations

import pytest

LISTS = ["/api/sessions", "/api/students", "/api/subjects", "/api/notifications"]


@pytest.mark.parametrize("url", LISTS)
def test_unknown_query_parameter_is_400_naming_it(world, api, url):
    response = api(world.admin).get(url, {"subject": "Math"})
    assert response.status_code == 400
    assert response.json() == {"subject": ["Unknown query parameter."]}


def test_unknown_query_parameter_on_a_detail_is_400_too(world, api):
    response = api(world.parent).get(f"/api/sessions/{world.booking.id}", {"expand": "all"})
    assert response.status_code == 400
    assert response.json() == {"expand": ["Unknown query parameter."]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": ""}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"to": ""}, "to"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_invalid_filter_value_is_400_naming_it(world, api, query, field):
    response = api(world.admin).get("/api/sessions", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_filters_still_filter(world, api):
    client = api(world.admin)
    cutoff = world.other_booking.starts_at.isoformat()
    assert [r["id"] for r in client.get("/api/sessions", {"from": cutoff}).json()] == [str(world.other_booking.id)]
    assert [r["id"] for r in client.get("/api/sessions", {"to": cutoff}).json()] == [str(world.booking.id)]
    assert client.get("/api/sessions", {"status": "cancelled"}).json() == []
