"""The performance summary, checked against figures worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinical.models import Review
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import NOW, url
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db

MINE = url("me", "performance")


@pytest.fixture
def history(patient, other_patient, doctor_profile, other_doctor_profile):
    """``doctor``'s book, scheduled in December 2029 (one per day):

    completed ₹500, completed ₹500 (rated 5 and 4), completed $20 (unrated), cancelled, no-show,
    scheduled, rescheduled; plus a completed ₹300 one of ``other_doctor`` that must not count.
    """
    day = NOW - timedelta(days=31)
    rows = [
        ("completed", 50_000, "INR"),
        ("completed", 50_000, "INR"),
        ("completed", 2_000, "USD"),
        ("cancelled", 50_000, "INR"),
        ("no_show", 50_000, "INR"),
        ("scheduled", 50_000, "INR"),
        ("rescheduled", 50_000, "INR"),
    ]
    made = []
    for n, (state, fee, currency) in enumerate(rows):
        made.append(
            ConsultationFactory(
                patient=patient if n % 2 else other_patient,
                doctor=doctor_profile.user,
                state=state,
                fee_amount=fee,
                fee_currency=currency,
                scheduled_start=day + timedelta(days=n),
            )
        )
    for consultation, stars in ((made[0], 5), (made[1], 4)):
        Review.objects.create(
            consultation=consultation, patient=consultation.patient, doctor=consultation.doctor, rating=stars
        )
    other = ConsultationFactory(
        patient=patient,
        doctor=other_doctor_profile.user,
        state="completed",
        fee_amount=30_000,
        scheduled_start=day,
    )
    Review.objects.create(consultation=other, patient=patient, doctor=other.doctor, rating=1)
    return made


def test_doctor_sees_own_figures(client_for, doctor_profile, history):
    data = success_data(client_for(doctor_profile.user).get(MINE))

    assert data["doctor_id"] == str(doctor_profile.user_id)
    assert data["consultations"] == {
        "total": 7,
        "by_state": {
            "pending_payment": 0,
            "scheduled": 1,
            "waiting": 0,
            "in_progress": 0,
            "completed": 3,
            "cancelled": 1,
            "no_show": 1,
            "rescheduled": 1,
        },
    }
    assert data["completion_rate"] == 0.6  # 3 completed of 5 with an outcome
    assert data["average_rating"] == 4.5
    assert data["rating_count"] == 2
    assert data["revenue"] == [
        {"currency": "INR", "amount": 100_000, "consultations": 2},
        {"currency": "USD", "amount": 2_000, "consultations": 1},
    ]


def test_figures_for_a_time_window(client_for, doctor_profile, history):
    # The first two days only: the two completed ₹500 consultations.
    since = history[0].scheduled_start.isoformat()
    until = history[2].scheduled_start.isoformat()
    data = success_data(client_for(doctor_profile.user).get(MINE, {"since": since, "until": until}))
    assert data["consultations"]["total"] == 2
    assert data["completion_rate"] == 1.0
    assert data["average_rating"] == 4.5
    assert data["revenue"] == [{"currency": "INR", "amount": 100_000, "consultations": 2}]
    assert data["since"] == since.replace("+00:00", "Z")


def test_a_doctor_with_no_consultations_has_empty_figures(client_for, doctor_profile):
    data = success_data(client_for(doctor_profile.user).get(MINE))
    assert data["consultations"]["total"] == 0
    assert data["completion_rate"] is None
    assert data["average_rating"] is None
    assert data["revenue"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2030-01-01T00:00:00"}, "since"),  # no offset: ambiguous
        ({"since": "yesterday"}, "since"),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "until"),
    ],
)
def test_window_is_validated(query, field, client_for, doctor_profile):
    error = error_of(client_for(doctor_profile.user).get(MINE, query), 400, "VALIDATION_ERROR")
    assert field in error["details"]


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_read_any_doctors_figures(role, as_role, doctor_profile, history):
    _, client = as_role(role)
    data = success_data(client.get(url(doctor_profile.user_id, "performance")))
    assert data["consultations"]["total"] == 7
    assert data["revenue"][0] == {"currency": "INR", "amount": 100_000, "consultations": 2}


@pytest.mark.parametrize("role", ["patient", "other_patient", "doctor", "other_doctor"])
def test_non_staff_cannot_read_a_doctors_figures_by_id(role, as_role, doctor_profile, history):
    _, client = as_role(role)
    error = error_of(client.get(url(doctor_profile.user_id, "performance")), 403, "PERMISSION_DENIED")
    assert "100000" not in str(error)


def test_anonymous_cannot_read_figures(api_client, doctor_profile):
    error_of(api_client.get(url(doctor_profile.user_id, "performance")), 401, "AUTHENTICATION_FAILED")
    error_of(api_client.get(MINE), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("role", ["patient", "admin_user"])
def test_me_performance_is_for_doctors(role, as_role):
    _, client = as_role(role)
    error_of(client.get(MINE), 403, "PERMISSION_DENIED")


def test_figures_of_a_missing_doctor_are_not_found(client_for, admin_user, patient):
    error_of(client_for(admin_user).get(url(patient.pk, "performance")), 404, "NOT_FOUND")


def test_figures_run_a_fixed_number_of_queries(
    client_for, doctor_profile, history, django_assert_max_num_queries
):
    client = client_for(doctor_profile.user)
    # user, counts by state, ratings, revenue
    with django_assert_max_num_queries(4):
        success_data(client.get(MINE))
