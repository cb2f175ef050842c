from __future__ import annotations

import uuid

import pytest

from clinical.models import ClinicReview
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import ClinicFactory
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


def reviews_url(clinic) -> str:
    return f"/api/eclinic/{clinic.pk}/reviews/"


@pytest.fixture
def visit(clinic, clinic_doctor, patient):
    """The patient's completed in-clinic consultation at the clinic."""
    return ConsultationFactory(
        patient=patient, doctor=clinic_doctor, type="in_clinic", clinic=clinic, state="completed"
    )


def test_patient_reviews_a_completed_visit(client_for, api_client, patient, clinic, visit):
    data = success_data(
        client_for(patient).post(
            reviews_url(clinic), {"consultation": str(visit.pk), "rating": 4, "comment": "Kind staff"}
        ),
        201,
    )

    assert (data["rating"], data["comment"]) == (4, "Kind staff")
    clinic.refresh_from_db()
    assert (clinic.rating_sum, clinic.rating_count) == (4, 1)
    shown = success_data(api_client.get(f"/api/eclinic/{clinic.pk}/"))
    assert (shown["rating_average"], shown["rating_count"]) == (4.0, 1)


def test_ratings_accumulate_over_visits(client_for, patient, other_patient, clinic, clinic_doctor, visit):
    second = ConsultationFactory(
        patient=other_patient, doctor=clinic_doctor, type="in_clinic", clinic=clinic, state="completed"
    )
    success_data(
        client_for(patient).post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 5}), 201
    )
    success_data(
        client_for(other_patient).post(reviews_url(clinic), {"consultation": str(second.pk), "rating": 2}),
        201,
    )

    clinic.refresh_from_db()
    assert (clinic.rating_sum, clinic.rating_count, str(clinic.rating_average)) == (7, 2, "3.50")


def test_one_review_per_consultation(client_for, patient, clinic, visit):
    client = client_for(patient)
    success_data(client.post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 5}), 201)

    error_of(
        client.post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 1}),
        409,
        "ALREADY_REVIEWED",
    )
    clinic.refresh_from_db()
    assert (clinic.rating_sum, clinic.rating_count) == (5, 1)


@pytest.mark.parametrize("state", ["scheduled", "waiting", "in_progress", "cancelled", "no_show"])
def test_visit_must_be_completed(client_for, patient, clinic, visit, state):
    visit.state = state
    visit.save()
    error_of(
        client_for(patient).post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 5}),
        403,
        "REVIEW_NOT_ALLOWED",
    )
    assert not ClinicReview.objects.exists()


@pytest.mark.parametrize("who", ["other_patient", "doctor", "admin_user", "clinic_admin"])
def test_only_the_visits_patient_reviews_it(as_user, clinic, visit, who):
    error = error_of(
        as_user(who).post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 1}),
        403,
        "REVIEW_NOT_ALLOWED",
    )
    assert str(visit.patient_id) not in str(error)
    assert not ClinicReview.objects.exists()


def test_anonymous_cannot_review(api_client, clinic, visit):
    error_of(
        api_client.post(reviews_url(clinic), {"consultation": str(visit.pk), "rating": 5}),
        401,
        "AUTHENTICATION_FAILED",
    )


def test_video_consultation_is_not_a_clinic_visit(client_for, patient, clinic, clinic_doctor):
    video = ConsultationFactory(
        patient=patient, doctor=clinic_doctor, type="video", clinic=clinic, state="completed"
    )
    error_of(
        client_for(patient).post(reviews_url(clinic), {"consultation": str(video.pk), "rating": 5}),
        403,
        "REVIEW_NOT_ALLOWED",
    )


def test_visit_must_be_at_this_clinic(client_for, patient, visit):
    elsewhere = ClinicFactory()
    error_of(
        client_for(patient).post(reviews_url(elsewhere), {"consultation": str(visit.pk), "rating": 5}),
        403,
        "REVIEW_NOT_ALLOWED",
    )


def test_unknown_consultation_looks_like_any_other_refusal(client_for, patient, clinic):
    error_of(
        client_for(patient).post(reviews_url(clinic), {"consultation": str(uuid.uuid4()), "rating": 5}),
        403,
        "REVIEW_NOT_ALLOWED",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "great"}, "rating"),
        ({"rating": None}, "rating"),
        ({"consultation": "42"}, "consultation"),
        ({"comment": "x" * 2001}, "comment"),
    ],
)
def test_review_input_is_validated(client_for, patient, clinic, visit, body, field):
    body = {"consultation": str(visit.pk), "rating": 5, **body}
    error = error_of(client_for(patient).post(reviews_url(clinic), body), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_reviews_are_public_and_anonymous(api_client, clinic, visit, patient):
    ClinicReview.objects.create(
        clinic=clinic, consultation=visit, patient=patient, rating=3, comment="Long wait"
    )

    [row] = success_data(api_client.get(reviews_url(clinic)))["results"]

    assert set(row) == {"id", "rating", "comment", "created_at"}
    assert (row["rating"], row["comment"]) == (3, "Long wait")


def test_outsider_cannot_read_reviews_of_a_pending_clinic(api_client, pending_clinic):
    error_of(api_client.get(reviews_url(pending_clinic)), 404, "NOT_FOUND")


def test_review_list_filters_and_runs_a_constant_number_of_queries(
    api_client, clinic, clinic_doctor, django_assert_max_num_queries
):
    for n in range(10):
        visit = ConsultationFactory(doctor=clinic_doctor, type="in_clinic", clinic=clinic, state="completed")
        ClinicReview.objects.create(
            clinic=clinic, consultation=visit, patient=visit.patient, rating=1 + n % 5
        )

    with django_assert_max_num_queries(3):
        data = success_data(api_client.get(reviews_url(clinic), {"rating_min": 4}))
    assert sorted(r["rating"] for r in data["results"]) == [4, 4, 5, 5]
