"""Date-time query filters reach the database in UTC: any offset Python parses is a filter, never a
500 (PostgreSQL refuses offsets beyond ±15:59)."""

from __future__ import annotations

from tests.api.helpers import error_of, success_data

NOTIFICATIONS = "/api/notifications/"


def test_date_time_filter_with_an_offset_postgres_refuses_still_filters(client_for, patient):
    response = client_for(patient).get(NOTIFICATIONS, {"created_after": "2024-01-01T00:00:00+16:44"})

    assert success_data(response)["results"] == []


def test_date_time_filter_before_year_one_in_utc_is_a_validation_error(client_for, patient):
    response = client_for(patient).get(NOTIFICATIONS, {"created_after": "0001-01-01T00:00:00+05:00"})

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "created_after" in error["details"]
