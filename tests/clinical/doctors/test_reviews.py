"""Reviews: only the patient of a completed consultation, once; the average stays exact under
concurrent reviews."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from clinical.models import DoctorProfile, Review
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import ROLES, url
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(patient, doctor_profile, completed_consultation):
    """``patient`` had a completed consultation with ``doctor``."""
    return completed_consultation(patient, doctor_profile.user)


def reviews_url(profile) -> str:
    return url(profile.user_id, "reviews")


def rating_of(profile) -> tuple[int, int]:
    fresh = DoctorProfile.objects.get(pk=profile.pk)
    return fresh.rating_sum, fresh.rating_count


def test_patient_reviews_a_completed_consultation(client_for, patient, doctor_profile, visit):
    response = client_for(patient).post(
        reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 4, "comment": "Thorough."}
    )
    data = success_data(response, 201)
    assert (data["rating"], data["comment"]) == (4, "Thorough.")
    review = Review.objects.get()
    assert (review.patient, review.doctor, review.consultation) == (patient, doctor_profile.user, visit)
    assert rating_of(doctor_profile) == (4, 1)


def test_average_is_kept_from_sum_and_count(
    client_for, patient, other_patient, doctor_profile, completed_consultation
):
    for who, stars in ((patient, 5), (patient, 4), (other_patient, 2)):
        visit = completed_consultation(who, doctor_profile.user)
        success_data(
            client_for(who).post(
                reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": stars}
            ),
            201,
        )
    assert rating_of(doctor_profile) == (11, 3)
    listed = success_data(client_for(patient).get(url(doctor_profile.user_id)))
    assert (listed["rating_average"], listed["rating_count"]) == (3.67, 3)


def test_one_review_per_consultation(client_for, patient, doctor_profile, visit):
    client = client_for(patient)
    body = {"consultation": str(visit.pk), "rating": 5}
    success_data(client.post(reviews_url(doctor_profile), body), 201)
    error_of(client.post(reviews_url(doctor_profile), {**body, "rating": 1}), 409, "ALREADY_REVIEWED")
    assert rating_of(doctor_profile) == (5, 1)


@pytest.mark.parametrize("state", ["scheduled", "waiting", "in_progress", "cancelled", "no_show"])
def test_only_completed_consultations_can_be_reviewed(state, client_for, patient, doctor_profile):
    visit = ConsultationFactory(patient=patient, doctor=doctor_profile.user, state=state)
    response = client_for(patient).post(
        reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 5}
    )
    error_of(response, 409, "REVIEW_NOT_ALLOWED")
    assert not Review.objects.exists()
    assert rating_of(doctor_profile) == (0, 0)


def test_other_patient_cannot_review_my_consultation(client_for, other_patient, doctor_profile, visit):
    response = client_for(other_patient).post(
        reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 1}
    )
    error = error_of(response, 403, "REVIEW_NOT_ALLOWED")
    assert "completed" not in error["message"]  # does not reveal the consultation's state
    assert error["details"] == {}
    assert not Review.objects.exists()


def test_consultation_must_be_with_this_doctor(client_for, patient, other_doctor_profile, visit):
    response = client_for(patient).post(
        reviews_url(other_doctor_profile), {"consultation": str(visit.pk), "rating": 1}
    )
    error_of(response, 403, "REVIEW_NOT_ALLOWED")
    assert rating_of(other_doctor_profile) == (0, 0)


@pytest.mark.parametrize("role", ["doctor", "other_doctor", "admin_user", "superadmin"])
def test_only_patients_post_reviews(role, as_role, doctor_profile, other_doctor_profile, visit):
    _, client = as_role(role)
    error_of(
        client.post(reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 5}),
        403,
        "PERMISSION_DENIED",
    )
    assert not Review.objects.exists()


def test_anonymous_cannot_review(api_client, doctor_profile, visit):
    response = api_client.post(reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 5})
    error_of(response, 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({}, "rating"),
        ({"rating": 5, "consultation": "x"}, "consultation"),
    ],
)
def test_review_input_is_validated(body, field, client_for, patient, doctor_profile, visit):
    body = {"consultation": str(visit.pk), **body}
    error = error_of(client_for(patient).post(reviews_url(doctor_profile), body), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_a_revoked_doctor_can_still_be_reviewed_by_their_patient(client_for, patient, doctor_profile, visit):
    DoctorProfile.objects.filter(pk=doctor_profile.pk).update(verification_status="rejected")
    response = client_for(patient).post(
        reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 3}
    )
    success_data(response, 201)


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_a_public_doctors_reviews_without_patient_details(
    role, as_role, client_for, patient, doctor_profile, visit
):
    client_for(patient).post(
        reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 5, "comment": "Great"}
    )
    _, client = as_role(role)
    data = success_data(client.get(reviews_url(doctor_profile)))
    assert [(r["rating"], r["comment"]) for r in data["results"]] == [(5, "Great")]
    row = data["results"][0]
    assert set(row) == {"id", "rating", "comment", "created_at"}
    assert str(visit.pk) not in str(data)
    assert str(patient.pk) not in str(data)


@pytest.mark.parametrize("role", ["anonymous", "patient", "other_doctor"])
def test_reviews_of_an_unverified_doctor_are_not_public(role, as_role, pending_profile):
    _, client = as_role(role)
    error_of(client.get(reviews_url(pending_profile)), 404, "NOT_FOUND")


def test_reviews_filter_and_order(api_client, doctor_profile, completed_consultation):
    for stars in (1, 5, 3):
        visit = completed_consultation(UserFactory(role="patient"), doctor_profile.user)
        Review.objects.create(
            consultation=visit, patient=visit.patient, doctor=doctor_profile.user, rating=stars
        )
    data = success_data(
        api_client.get(reviews_url(doctor_profile), {"rating__gte": 3, "ordering": "-rating"})
    )
    assert [r["rating"] for r in data["results"]] == [5, 3]


def test_review_list_runs_a_constant_number_of_queries(
    api_client, doctor_profile, completed_consultation, django_assert_max_num_queries
):
    for _ in range(12):
        visit = completed_consultation(UserFactory(role="patient"), doctor_profile.user)
        Review.objects.create(consultation=visit, patient=visit.patient, doctor=doctor_profile.user, rating=4)
    # doctor (with its prefetches: specialisations, languages, rules, exceptions, education, experience),
    # count, page
    with django_assert_max_num_queries(9):
        assert success_data(api_client.get(reviews_url(doctor_profile), {"page_size": 50}))["count"] == 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_keep_an_exact_average(client_for, doctor_profile, completed_consultation):
    reviewers = 24
    stars = [(n % 5) + 1 for n in range(reviewers)]
    jobs = []
    for rating in stars:
        who = UserFactory(role="patient")
        jobs.append((client_for(who), completed_consultation(who, doctor_profile.user), rating))
    start = threading.Barrier(reviewers)

    def post(job) -> int:
        client, visit, rating = job
        try:
            start.wait()
            return client.post(
                reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": rating}
            ).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=reviewers) as pool:
        statuses = list(pool.map(post, jobs))

    assert statuses == [201] * reviewers
    assert rating_of(doctor_profile) == (sum(stars), reviewers)
    assert Review.objects.count() == reviewers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_reviews_count_once(client_for, patient, doctor_profile, completed_consultation):
    visit = completed_consultation(patient, doctor_profile.user)
    attempts = 8
    clients = [client_for(patient) for _ in range(attempts)]
    start = threading.Barrier(attempts)

    def post(client) -> int:
        try:
            start.wait()
            return client.post(
                reviews_url(doctor_profile), {"consultation": str(visit.pk), "rating": 4}
            ).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = sorted(pool.map(post, clients))

    assert statuses == [201] + [409] * (attempts - 1)
    assert rating_of(doctor_profile) == (4, 1)
