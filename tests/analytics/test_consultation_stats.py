"""Consultation statistics: every figure equals an independent computation over the seeded rows,
in Asia/Kolkata and in UTC, by day, week and month."""

from __future__ import annotations

from datetime import date

import pytest

from tests.analytics.overview_expected import BASE, KOLKATA, UTC_ZONE, consultation_stats, data_of, error_of

pytestmark = pytest.mark.django_db

URL = f"{BASE}consultations/"


def assert_same(data, expected):
    timings = ("average_duration_minutes", "average_wait_minutes")
    for key in timings:
        assert data[key] == pytest.approx(expected[key], abs=0.011)
    assert {k: v for k, v in data.items() if k not in timings} == {
        k: v for k, v in expected.items() if k not in timings
    }


@pytest.mark.parametrize("zone", [KOLKATA, UTC_ZONE], ids=["kolkata", "utc"])
def test_daily_figures_match_an_independent_computation(alan, seeded, zone):
    data = data_of(alan.get(f"{URL}?from=2030-02-01&to=2030-03-20&tz={zone.key}"))

    expected = consultation_stats(date(2030, 2, 1), date(2030, 3, 20), zone)
    assert_same(data, expected)
    # What the seed must have given the comparison to bite on.
    assert data["total"] > 40
    assert {row["state"] for row in data["by_state"] if row["count"]} >= {"completed", "cancelled", "no_show"}
    assert len(data["heatmap"]) == 168
    assert data["average_duration_minutes"] is not None
    assert data["average_wait_minutes"] is not None
    assert (
        sum(r["count"] for r in data["by_specialisation"]) > data["total"]
    )  # two specialisations count twice


def test_the_same_window_differs_between_zones(alan, seeded):
    kolkata = data_of(alan.get(f"{URL}?from=2030-03-01&to=2030-03-15&tz=Asia/Kolkata"))
    utc = data_of(alan.get(f"{URL}?from=2030-03-01&to=2030-03-15&tz=UTC"))

    assert kolkata["heatmap"] != utc["heatmap"]  # same bookings, hours 5:30 apart


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [("week", date(2029, 12, 1), date(2030, 3, 25)), ("month", date(2029, 11, 1), date(2030, 3, 31))],
)
def test_weeks_and_months(ada, seeded, granularity, start, end):
    data = data_of(ada.get(f"{URL}?granularity={granularity}&from={start}&to={end}"))

    assert data["window"]["time_zone"] == "Asia/Kolkata"  # ada's profile zone
    assert_same(data, consultation_stats(start, end, KOLKATA, granularity))


def test_an_empty_window(alan, seeded):
    data = data_of(alan.get(f"{URL}?from=2020-01-01&to=2020-01-31"))

    assert data["total"] == 0
    assert data["rates"] == {"completion": 0.0, "cancellation": 0.0, "no_show": 0.0}
    assert data["average_duration_minutes"] is None
    assert data["by_specialisation"] == []
    assert {cell["count"] for cell in data["heatmap"]} == {0}


def test_the_default_window_is_the_last_30_days_in_the_profile_zone(ada, seeded):
    data = data_of(ada.get(URL))

    assert data["window"] == {
        "from": "2030-02-14",
        "to": "2030-03-15",
        "time_zone": "Asia/Kolkata",
        "granularity": "day",
    }
    assert_same(data, consultation_stats(date(2030, 2, 14), date(2030, 3, 15), KOLKATA))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tz=Mars/Olympus_Mons", "tz"),
        ("granularity=hour", "granularity"),
        ("from=2030-03-05&to=2030-03-01", "from"),
        ("from=2020-01-01&to=2030-03-01", "from"),
        ("from=yesterday", "from"),
        ("to=2030-02-30", "to"),
    ],
)
def test_invalid_queries_are_validation_errors(staff_client, query, field):
    response = staff_client.get(f"{URL}?{query}")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_superadmins_read_them(client_for, superadmin):
    assert client_for(superadmin).get(URL).status_code == 200


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_they_are_for_staff(request, client_for, role):
    assert client_for(request.getfixturevalue(role)).get(URL).status_code == 403


def test_anonymous_read_nothing(api_client):
    assert api_client.get(URL).status_code == 401


def test_a_bounded_number_of_queries(alan, seeded, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):
        data_of(alan.get(f"{URL}?from=2029-03-21&to=2030-03-20"))
