"""User growth: sign-ups, active users and patients' retention equal an independent computation
over the seeded rows, in Asia/Kolkata and in UTC."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinical.models import Consultation
from tests.analytics.overview_expected import BASE, KOLKATA, UTC_ZONE, data_of, error_of, user_growth
from tests.analytics.seed import NOW

pytestmark = pytest.mark.django_db

URL = f"{BASE}user-growth/"
START, END = date(2029, 11, 15), date(2030, 3, 15)


@pytest.mark.parametrize("zone", [KOLKATA, UTC_ZONE], ids=["kolkata", "utc"])
def test_daily_figures_match_an_independent_computation(alan, seeded, zone):
    data = data_of(alan.get(f"{URL}?from={START}&to={END}&tz={zone.key}"))

    assert data == user_growth(START, END, zone, NOW)
    assert sum(data["totals"]["signups"].values()) > 40
    assert data["totals"]["active"]["patient"] > 10
    retention = data["retention"]
    assert retention["cohort_size"] > 20
    assert 0 < retention["rebooked_within"]["90"] < 1
    assert retention["eligible"]["90"] < retention["eligible"]["30"]  # young cohorts wait their turn


@pytest.mark.parametrize("granularity", ["week", "month"])
@pytest.mark.parametrize("zone", [KOLKATA, UTC_ZONE], ids=["kolkata", "utc"])
def test_weeks_and_months(alan, seeded, zone, granularity):
    data = data_of(alan.get(f"{URL}?from={START}&to={END}&tz={zone.key}&granularity={granularity}"))

    assert data == user_growth(START, END, zone, NOW, granularity)
    # Active users are distinct per period: a week's count is not the sum of its days.
    days = data_of(alan.get(f"{URL}?from={START}&to={END}&tz={zone.key}"))
    assert sum(p["active"]["patient"] for p in days["series"]) > sum(
        p["active"]["patient"] for p in data["series"]
    )


def test_one_role_only(alan, seeded):
    data = data_of(alan.get(f"{URL}?from={START}&to={END}&tz=Asia/Kolkata&role=doctor"))

    assert data == user_growth(START, END, KOLKATA, NOW, role="doctor")
    assert set(data["totals"]["signups"]) == {"doctor"}
    assert data["retention"] == user_growth(START, END, KOLKATA, NOW)["retention"]  # patients, always


def test_a_rebooking_within_30_days_counts_once_30_days_have_passed(alan, seeded, patient, doctor):
    first = NOW - timedelta(days=40)
    for at in (first, first + timedelta(days=29, hours=23), first + timedelta(days=70)):
        Consultation.objects.create(
            patient=patient,
            doctor=doctor,
            scheduled_start=at + timedelta(days=1),
            state="completed",
            created_at=at,
        )
    # A cancelled booking is not a booking: the first is still 40 days ago.
    Consultation.objects.create(
        patient=patient,
        doctor=doctor,
        scheduled_start=first,
        state="cancelled",
        created_at=first - timedelta(days=1),
    )

    day = first.astimezone(KOLKATA).date()
    data = data_of(alan.get(f"{URL}?from={day}&to={day}&tz=Asia/Kolkata"))

    mine = data["retention"]["cohorts"][0]
    assert data == user_growth(day, day, KOLKATA, NOW)
    assert mine["patients"] >= 1
    assert mine["eligible_30"] >= 1
    assert mine["rebooked_30"] >= 1
    assert mine["eligible_60"] == 0  # 40 days ago: too young to count towards 60


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tz=Nowhere/Land", "tz"),
        ("granularity=year", "granularity"),
        ("from=2030-03-05&to=2030-03-01", "from"),
        ("from=2010-01-01&to=2030-03-01&granularity=week", "from"),
        ("from=03/01/2030", "from"),
        ("role=nurse", "role"),
    ],
)
def test_invalid_queries_are_validation_errors(staff_client, query, field):
    response = staff_client.get(f"{URL}?{query}")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_it_is_for_staff(request, client_for, role):
    assert client_for(request.getfixturevalue(role)).get(URL).status_code == 403


def test_anonymous_read_nothing(api_client):
    assert api_client.get(URL).status_code == 401


def test_a_bounded_number_of_queries(alan, seeded, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):
        data_of(alan.get(f"{URL}?from=2029-03-16&to=2030-03-15&tz=Asia/Kolkata"))
