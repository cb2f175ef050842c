"""Statistics by doctor and medicine, and the catalogue."""

from __future__ import annotations

import pytest

from clinical.models import Medication
from clinical.prescriptions import services
from clinical.prescriptions.catalogue import catalogue_entries, ensure_catalogue
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import service_item, url

pytestmark = pytest.mark.django_db

STATS = url(suffix="stats")
MEDICATIONS = "/api/prescriptions/medications/"


@pytest.fixture
def history(doctor, consultation, med, issued, revision, other_prescription):
    """``doctor``: ``issued`` (amoxicillin, paracetamol), a draft revision (not counted) and one more
    (amoxicillin x 20); ``other_doctor``: ``other_prescription`` (metformin)."""
    draft = services.create_prescription(
        doctor, consultation, items=[service_item(med("amoxicillin"), quantity=20)]
    )
    return services.issue_prescription(doctor, draft)


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_see_counts_by_doctor_and_medicine(as_role, role, history, doctor, other_doctor, med):
    data = success_data(as_role(role).get(STATS))

    assert data["total_prescriptions"] == 3
    assert data["total_items"] == 4
    assert [(row["doctor"], row["prescriptions"]) for row in data["by_doctor"]] == [
        (str(doctor.pk), 2),
        (str(other_doctor.pk), 1),
    ]
    amoxicillin = next(row for row in data["by_medicine"] if row["generic_name"] == "amoxicillin")
    assert (amoxicillin["prescriptions"], amoxicillin["items"], amoxicillin["total_quantity"]) == (2, 2, 30)
    assert data["by_medicine"][0]["generic_name"] == "amoxicillin"


def test_doctor_sees_only_their_own_numbers(client_for, doctor, other_doctor, history):
    data = success_data(client_for(doctor).get(STATS, {"doctor": str(other_doctor.pk)}))

    assert [row["doctor"] for row in data["by_doctor"]] == [str(doctor.pk)]
    assert "metformin" not in {row["generic_name"] for row in data["by_medicine"]}


def test_staff_filter_stats_by_doctor_and_date(client_for, admin_user, other_doctor, history):
    by_doctor = success_data(client_for(admin_user).get(STATS, {"doctor": str(other_doctor.pk)}))
    future = success_data(client_for(admin_user).get(STATS, {"issued_after": "2999-01-01T00:00:00Z"}))

    assert by_doctor["total_prescriptions"] == 1
    assert future == {"total_prescriptions": 0, "total_items": 0, "by_doctor": [], "by_medicine": []}


def test_stats_query_is_validated(client_for, admin_user):
    error = error_of(
        client_for(admin_user).get(STATS, {"limit": 0, "issued_after": "soon"}), 400, "VALIDATION_ERROR"
    )

    assert {"limit", "issued_after"} <= set(error["details"])


@pytest.mark.parametrize("role", ["patient", "other_patient"])
def test_patients_get_no_stats(as_role, role, history):
    response = as_role(role).get(STATS)

    error_of(response, 403, "PERMISSION_DENIED")
    assert b"amoxicillin" not in response.content


def test_anonymous_gets_no_stats(api_client):
    error_of(api_client.get(STATS), 401, "AUTHENTICATION_FAILED")


# --- Catalogue -----------------------------------------------------------------------------------


def test_catalogue_load_is_idempotent():
    before = Medication.objects.count()

    result = ensure_catalogue()

    assert before == len(catalogue_entries()) >= 60
    assert (result.created, result.updated) == (0, 0)
    assert Medication.objects.count() == before


def test_catalogue_load_repairs_a_changed_drug_class():
    Medication.objects.filter(generic_name="warfarin").update(drug_class="something else")

    result = ensure_catalogue()

    assert result.updated == 1
    assert Medication.objects.get(generic_name="warfarin").drug_class == "anticoagulants"


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user"])
def test_catalogue_search(as_role, role):
    page = success_data(as_role(role).get(MEDICATIONS, {"search": "Coumadin"}))

    assert [(m["generic_name"], m["brand_name"], m["form"], m["strength"]) for m in page["results"]] == [
        ("warfarin", "Coumadin", "tablet", "5 mg")
    ]


def test_catalogue_filters_by_form_and_class(client_for, doctor):
    page = success_data(client_for(doctor).get(MEDICATIONS, {"drug_class": "penicillins", "form": "syrup"}))

    assert [m["generic_name"] for m in page["results"]] == ["amoxicillin"]


def test_anonymous_cannot_search_the_catalogue(api_client):
    error_of(api_client.get(MEDICATIONS), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("role", ["patient", "doctor", "superadmin"])
def test_one_catalogue_medication(as_role, role, med):
    warfarin = med("warfarin")

    data = success_data(as_role(role).get(f"{MEDICATIONS}{warfarin.pk}/"))

    assert data == {
        "id": warfarin.pk,
        "generic_name": "warfarin",
        "brand_name": "Coumadin",
        "form": "tablet",
        "strength": "5 mg",
        "drug_class": "anticoagulants",
    }


def test_unknown_catalogue_medication_is_404(client_for, doctor):
    error_of(client_for(doctor).get(f"{MEDICATIONS}999999/"), 404, "NOT_FOUND")


def test_catalogue_list_runs_constant_queries(client_for, doctor, django_assert_max_num_queries):
    client = client_for(doctor)
    with django_assert_max_num_queries(4) as small:
        success_data(client.get(MEDICATIONS, {"page_size": 2}))
    with django_assert_max_num_queries(4) as large:
        page = success_data(client.get(MEDICATIONS, {"page_size": 100}))

    assert len(small.captured_queries) == len(large.captured_queries)
    assert len(page["results"]) == Medication.objects.count()
