"""Who sees which prescription, filters on the list, the audit trail, and query counts."""

from __future__ import annotations

import pytest

from clinical.prescriptions import services
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import service_item, url
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


def _ids(page) -> set[str]:
    return {row["id"] for row in page["results"]}


def test_patient_lists_own_issued_prescriptions_but_not_drafts(client_for, patient, issued, revision):
    page = success_data(client_for(patient).get(url()))

    assert _ids(page) == {str(issued.pk)}


def test_doctor_lists_what_they_wrote(client_for, doctor, issued, revision, other_prescription):
    page = success_data(client_for(doctor).get(url()))

    assert _ids(page) == {str(issued.pk), str(revision.pk)}


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_list_everything(as_role, role, issued, revision, other_prescription):
    page = success_data(as_role(role).get(url()))

    assert _ids(page) == {str(issued.pk), str(revision.pk), str(other_prescription.pk)}


def test_other_patient_sees_none_of_them(client_for, other_patient, issued):
    page = success_data(client_for(other_patient).get(url()))

    assert page["results"] == []


def test_anonymous_cannot_list(api_client, issued):
    error_of(api_client.get(url()), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user", "superadmin"])
def test_allowed_roles_read_the_prescription(as_role, role, issued):
    data = success_data(as_role(role).get(url(issued)))

    assert data["id"] == str(issued.pk)
    assert {i["medication"]["generic_name"] for i in data["items"]} == {"amoxicillin", "paracetamol"}


@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_other_patient_and_other_doctor_cannot_read_prescription(as_role, role, issued, patient, request):
    response = as_role(role).get(url(issued))

    error = error_of(response, 404, "NOT_FOUND")
    assert set(error["details"]) <= {"reason"}
    body = response.content.decode()
    assert "amoxicillin" not in body
    assert str(patient.pk) not in body
    actor = request.getfixturevalue(role)
    assert AuditEntry.objects.filter(actor=actor, subject=patient, action="denied").count() == 1


def test_patient_cannot_read_their_draft(client_for, patient, draft):
    error_of(client_for(patient).get(url(draft)), 404, "NOT_FOUND")


def test_anonymous_cannot_read_prescription(api_client, issued):
    response = api_client.get(url(issued))

    error_of(response, 401, "AUTHENTICATION_FAILED")
    assert "amoxicillin" not in response.content.decode()


def test_reading_someone_elses_prescription_is_audited(client_for, admin_user, patient, issued):
    success_data(client_for(admin_user).get(url(issued)))

    entry = AuditEntry.objects.get(actor=admin_user, action="read")
    assert (entry.subject_id, entry.resource, entry.object_id) == (patient.pk, "prescription", str(issued.pk))


def test_reading_your_own_prescription_is_not_audited(client_for, patient, issued):
    success_data(client_for(patient).get(url(issued)))
    success_data(client_for(patient).get(url()))

    assert not AuditEntry.objects.filter(actor=patient).exists()


def test_listing_audits_one_read_per_prescription_of_others(
    client_for, admin_user, issued, other_prescription
):
    success_data(client_for(admin_user).get(url()))

    assert set(
        AuditEntry.objects.filter(actor=admin_user, action="read").values_list("object_id", flat=True)
    ) == {
        str(issued.pk),
        str(other_prescription.pk),
    }


# --- Filters -------------------------------------------------------------------------------------


def test_list_filters(client_for, admin_user, doctor, patient, issued, revision, other_prescription, med):
    client = client_for(admin_user)

    assert _ids(success_data(client.get(url(), {"status": "draft"}))) == {str(revision.pk)}
    assert _ids(success_data(client.get(url(), {"doctor": str(doctor.pk)}))) == {
        str(issued.pk),
        str(revision.pk),
    }
    assert _ids(success_data(client.get(url(), {"patient": str(patient.pk), "status": "issued"}))) == {
        str(issued.pk)
    }
    metformin = med("metformin").pk
    assert _ids(success_data(client.get(url(), {"medication": metformin}))) == {str(other_prescription.pk)}
    assert _ids(success_data(client.get(url(), {"search": "metformin"}))) == {str(other_prescription.pk)}
    after = issued.issued_at.isoformat()
    assert str(revision.pk) not in _ids(success_data(client.get(url(), {"issued_after": after})))


def test_bad_filter_values_are_field_errors(client_for, admin_user):
    error = error_of(
        client_for(admin_user).get(url(), {"status": "lost", "issued_after": "yesterday"}),
        400,
        "VALIDATION_ERROR",
    )

    assert {"status", "issued_after"} <= set(error["details"])


def test_list_runs_a_constant_number_of_queries(
    client_for, admin_user, doctor, patient, med, django_assert_max_num_queries
):
    client = client_for(admin_user)
    consultation = ConsultationFactory(patient=patient, doctor=doctor, state="completed")

    def add(n: int) -> None:
        for _ in range(n):
            draft = services.create_prescription(
                doctor,
                consultation,
                items=[service_item(med("amoxicillin")), service_item(med("cetirizine"))],
            )
            services.issue_prescription(doctor, draft)

    add(2)
    with django_assert_max_num_queries(8) as small:
        success_data(client.get(url(), {"page_size": 2}))
    add(18)
    with django_assert_max_num_queries(8) as large:
        success_data(client.get(url(), {"page_size": 20}))
    assert len(small.captured_queries) == len(large.captured_queries)
