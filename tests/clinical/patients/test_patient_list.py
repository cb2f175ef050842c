"""GET /api/patients/: who is listed for whom, search and filters, and the audit trail of a list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import Condition, PatientProfile
from clinical.patients.selectors import years_before
from telehealth.audit.models import AuditEntry
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/patients/"


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["patient_id"] for row in response.json()["data"]["results"]}


def test_doctor_lists_only_their_own_patients(client_for, doctor, patient, other_patient, consultation):
    assert _ids(client_for(doctor).get(LIST)) == {str(patient.pk)}


def test_doctor_without_consultations_lists_nobody(client_for, other_doctor, patient, consultation):
    assert _ids(client_for(other_doctor).get(LIST)) == set()


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_list_every_patient_and_only_patients(as_role, cast, patient, other_patient, role):
    assert _ids(as_role(role).get(LIST)) == {str(patient.pk), str(other_patient.pk)}


def test_patient_lists_only_themselves(client_for, patient, other_patient, consultation):
    assert _ids(client_for(patient).get(LIST)) == {str(patient.pk)}


def test_anonymous_cannot_list_patients(api_client, patient):
    response = api_client.get(LIST)
    assert response.status_code == 401
    assert str(patient.pk) not in response.content.decode()


def test_list_rows_carry_demographics_and_last_consultation(
    client_for, doctor, patient, profile, consultation
):
    row = client_for(doctor).get(LIST).json()["data"]["results"][0]

    assert row["patient_id"] == str(patient.pk)
    assert (row["city"], row["country"], row["sex"], row["date_of_birth"]) == (
        "Pune",
        "IN",
        "female",
        "1990-05-17",
    )
    assert row["age"] >= 34
    assert row["last_consultation"].replace("Z", "+00:00") == consultation.scheduled_start.isoformat()


def test_a_doctor_sees_only_their_own_last_consultation(client_for, doctor, patient, consultation):
    later = ConsultationFactory(patient=patient, scheduled_start=timezone.now() - timedelta(minutes=1))
    consultation.scheduled_start = timezone.now() - timedelta(days=3)
    consultation.save()

    own_view = client_for(doctor).get(LIST).json()["data"]["results"][0]["last_consultation"]

    assert own_view.startswith(consultation.scheduled_start.date().isoformat())
    assert later.doctor_id != doctor.pk


def test_cancelled_and_future_consultations_are_not_the_last_consultation(client_for, admin_user, patient):
    ConsultationFactory(
        patient=patient, state="cancelled", scheduled_start=timezone.now() - timedelta(days=1)
    )
    ConsultationFactory(patient=patient, scheduled_start=timezone.now() + timedelta(days=1))

    row = client_for(admin_user).get(LIST).json()["data"]["results"][0]

    assert row["last_consultation"] is None


# --- Search and filters ---------------------------------------------------------------------------


@pytest.fixture
def population(doctor):
    """Three patients of ``doctor`` with different cities, ages, conditions and last visits."""
    today = timezone.localdate()
    now = timezone.now()
    people = {}
    for name, city, age, condition, days_ago in [
        ("Meera", "Pune", 30, "Type 2 diabetes", 2),
        ("Ravi", "Delhi", 55, "Hypertension", 40),
        ("Kiran", "pune", 70, "Diabetic retinopathy", 400),
    ]:
        user = UserFactory(role="patient", first_name=name, last_name="Test")
        PatientProfile.objects.create(
            user=user, city=city, date_of_birth=years_before(today, age), sex="female"
        )
        Condition.objects.create(patient=user, name=condition)
        ConsultationFactory(patient=user, doctor=doctor, scheduled_start=now - timedelta(days=days_ago))
        people[name] = user
    return people


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "meera"}, {"Meera"}),
        ({"city": "PUNE"}, {"Meera", "Kiran"}),
        ({"condition": "diabet"}, {"Meera", "Kiran"}),
        ({"condition": "tension"}, {"Ravi"}),
        ({"age_min": 55}, {"Ravi", "Kiran"}),
        ({"age_max": 55}, {"Meera", "Ravi"}),
        ({"age_min": 31, "age_max": 69}, {"Ravi"}),
        ({"age_min": 30, "age_max": 30}, {"Meera"}),
        ({"sex": "female"}, {"Meera", "Ravi", "Kiran"}),
    ],
)
def test_patients_are_searched_and_filtered(client_for, doctor, population, params, expected):
    response = client_for(doctor).get(LIST, params)

    assert _ids(response) == {str(population[name].pk) for name in expected}


def test_search_by_phone(client_for, doctor, population):
    phone = population["Ravi"].phone
    assert _ids(client_for(doctor).get(LIST, {"search": phone[-6:]})) == {str(population["Ravi"].pk)}


def test_filter_by_last_consultation(client_for, doctor, population):
    now = timezone.now()
    client = client_for(doctor)

    recent = client.get(LIST, {"last_consultation_after": (now - timedelta(days=30)).isoformat()})
    older = client.get(
        LIST,
        {
            "last_consultation_after": (now - timedelta(days=100)).isoformat(),
            "last_consultation_before": (now - timedelta(days=30)).isoformat(),
        },
    )

    assert _ids(recent) == {str(population["Meera"].pk)}
    assert _ids(older) == {str(population["Ravi"].pk)}


def test_order_by_last_consultation(client_for, doctor, population):
    rows = client_for(doctor).get(LIST, {"ordering": "-last_consultation"}).json()["data"]["results"]
    assert [r["first_name"] for r in rows] == ["Meera", "Ravi", "Kiran"]


def test_filters_do_not_widen_a_doctors_view(client_for, other_doctor, population):
    assert _ids(client_for(other_doctor).get(LIST, {"city": "pune"})) == set()


@pytest.mark.parametrize("params", [{"age_min": "-1"}, {"age_max": "old"}, {"sex": "robot"}])
def test_invalid_filters_are_refused(client_for, doctor, params):
    response = client_for(doctor).get(LIST, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


# --- Audit and queries ----------------------------------------------------------------------------


def test_a_list_writes_one_read_entry_per_patient_shown(client_for, doctor, population):
    client_for(doctor).get(LIST, {"page_size": 2, "ordering": "first_name"}, HTTP_USER_AGENT="UA/2")

    entries = AuditEntry.objects.all()
    assert {e.subject.first_name for e in entries} == {"Kiran", "Meera"}
    assert {(e.actor, e.action, e.resource, e.user_agent, e.path) for e in entries} == {
        (doctor, "read", "patient_profile", "UA/2", LIST)
    }


def test_a_patient_listing_themselves_is_not_audited(client_for, patient):
    client_for(patient).get(LIST)
    assert not AuditEntry.objects.exists()


def test_patient_list_runs_a_constant_number_of_queries(
    client_for, django_assert_num_queries, doctor, population
):
    client = client_for(doctor)
    # Token user, count, page, one audit INSERT.
    with django_assert_num_queries(4):
        client.get(LIST, {"condition": "a", "city": "pune", "age_min": 1})
    for n in range(10):
        user = UserFactory(role="patient")
        PatientProfile.objects.create(user=user, city="Pune", date_of_birth="1980-01-01")
        Condition.objects.create(patient=user, name="Asthma")
        ConsultationFactory(patient=user, doctor=doctor, scheduled_start=timezone.now() - timedelta(hours=n))

    with django_assert_num_queries(4):
        response = client.get(LIST, {"condition": "a", "city": "pune", "age_min": 1, "page_size": 50})
    assert response.json()["data"]["count"] == 12
