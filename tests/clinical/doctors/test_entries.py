"""The doctor's own education and experience entries: CRUD on their own, invisible to others."""

from __future__ import annotations

import pytest

from clinical.models import Education, Experience
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import url

pytestmark = pytest.mark.django_db

EDUCATION = url("me", "education")
EXPERIENCE = url("me", "experience")


def test_doctor_adds_lists_changes_and_deletes_education(client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    created = success_data(
        client.post(EDUCATION, {"degree": "MBBS", "institution": "AIIMS", "year": 2010}), 201
    )
    success_data(client.post(EDUCATION, {"degree": "MD", "institution": "PGIMER", "year": 2014}), 201)

    listed = success_data(client.get(EDUCATION))
    assert [row["degree"] for row in listed["results"]] == ["MD", "MBBS"]

    changed = success_data(client.patch(f"{EDUCATION}{created['id']}/", {"year": 2011}))
    assert (changed["degree"], changed["year"]) == ("MBBS", 2011)
    success_data(client.delete(f"{EDUCATION}{created['id']}/"))
    assert list(Education.objects.values_list("degree", flat=True)) == ["MD"]


def test_public_page_shows_education_and_experience(api_client, client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    client.post(EDUCATION, {"degree": "MBBS", "institution": "AIIMS", "year": 2010})
    client.post(EXPERIENCE, {"organisation": "Apollo", "title": "Consultant", "start_date": "2015-04-01"})
    data = success_data(api_client.get(url(doctor_profile.user_id)))
    assert [e["degree"] for e in data["education"]] == ["MBBS"]
    assert data["experience"][0]["organisation"] == "Apollo"
    assert data["experience"][0]["end_date"] is None


def test_doctor_manages_experience(client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    created = success_data(
        client.post(
            EXPERIENCE,
            {
                "organisation": "AIIMS",
                "title": "Resident",
                "start_date": "2010-07-01",
                "end_date": "2013-06-30",
            },
        ),
        201,
    )
    success_data(client.put(f"{EXPERIENCE}{created['id']}/", {**created, "title": "Senior resident"}))
    assert Experience.objects.get().title == "Senior resident"
    assert success_data(client.get(EXPERIENCE, {"current": "true"}))["count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"degree": "MBBS", "institution": "AIIMS", "year": 1900}, "year"),
        ({"degree": "MBBS", "institution": "AIIMS", "year": 2999}, "year"),
        ({"institution": "AIIMS", "year": 2010}, "degree"),
    ],
)
def test_invalid_education_is_refused(body, field, client_for, doctor_profile):
    assert (
        field
        in error_of(client_for(doctor_profile.user).post(EDUCATION, body), 400, "VALIDATION_ERROR")["details"]
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"organisation": "A", "title": "B", "start_date": "2015-01-01", "end_date": "2014-01-01"},
            "end_date",
        ),
        ({"organisation": "A", "title": "B", "start_date": "2999-01-01"}, "start_date"),
        ({"organisation": "A", "title": "B", "start_date": "yesterday"}, "start_date"),
    ],
)
def test_invalid_experience_is_refused(body, field, client_for, doctor_profile):
    assert (
        field
        in error_of(client_for(doctor_profile.user).post(EXPERIENCE, body), 400, "VALIDATION_ERROR")[
            "details"
        ]
    )


def test_patching_only_the_end_date_is_checked_against_the_stored_start(client_for, doctor_profile):
    entry = doctor_profile.experience.create(organisation="A", title="B", start_date="2015-01-01")
    response = client_for(doctor_profile.user).patch(f"{EXPERIENCE}{entry.pk}/", {"end_date": "2014-01-01"})
    assert "end_date" in error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_other_doctor_cannot_see_or_change_my_entries(client_for, doctor_profile, other_doctor_profile):
    mine = doctor_profile.education.create(degree="MBBS", institution="AIIMS", year=2010)
    client = client_for(other_doctor_profile.user)
    assert success_data(client.get(EDUCATION))["count"] == 0
    for response in (
        client.get(f"{EDUCATION}{mine.pk}/"),
        client.patch(f"{EDUCATION}{mine.pk}/", {"year": 2000}),
        client.delete(f"{EDUCATION}{mine.pk}/"),
    ):
        error = error_of(response, 404, "NOT_FOUND")
        assert "AIIMS" not in str(error)
    assert Education.objects.get(pk=mine.pk).year == 2010


@pytest.mark.parametrize("role", ["patient", "other_patient", "admin_user", "superadmin"])
def test_non_doctors_have_no_entries(role, as_role, doctor_profile):
    _, client = as_role(role)
    error_of(client.get(EDUCATION), 403, "PERMISSION_DENIED")
    error_of(
        client.post(EXPERIENCE, {"organisation": "A", "title": "B", "start_date": "2015-01-01"}),
        403,
        "PERMISSION_DENIED",
    )


def test_anonymous_has_no_entries(api_client):
    error_of(api_client.get(EDUCATION), 401, "AUTHENTICATION_FAILED")


def test_doctor_without_profile_is_told_to_create_it(client_for, doctor):
    error = error_of(
        client_for(doctor).post(EDUCATION, {"degree": "MBBS", "institution": "AIIMS", "year": 2010}),
        404,
        "NOT_FOUND",
    )
    assert "PUT /api/doctors/me/" in str(error)


def test_entry_list_runs_a_constant_number_of_queries(
    client_for, doctor_profile, django_assert_max_num_queries
):
    for year in range(2000, 2015):
        doctor_profile.education.create(degree=f"D{year}", institution="X", year=year)
    client = client_for(doctor_profile.user)
    # user, count, page
    with django_assert_max_num_queries(3):
        assert success_data(client.get(EDUCATION, {"page_size": 50}))["count"] == 15
