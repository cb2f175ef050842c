"""Drafting: who may create, edit and delete, and validation of what they send."""

from __future__ import annotations

import pytest

from clinical.models import Prescription, PrescriptionStatus
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import item, url
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


def test_doctor_drafts_a_prescription_for_their_consultation(client_for, doctor, patient, consultation, med):
    body = {
        "consultation": str(consultation.pk),
        "notes": "Review in a week.",
        "items": [item(med("amoxicillin"), frequency="TDS", quantity=15)],
    }

    data = success_data(client_for(doctor).post(url(), body), 201)

    assert data["status"] == "draft"
    assert data["version"] == 1
    assert data["patient"]["id"] == str(patient.pk)
    assert data["doctor"]["id"] == str(doctor.pk)
    assert data["doctor_registration_number"] is None  # the cast's doctor has no profile
    assert data["verification_code"] is None
    assert [(i["medication"]["generic_name"], i["frequency"], i["quantity"]) for i in data["items"]] == [
        ("amoxicillin", "TDS", 15)
    ]
    assert AuditEntry.objects.filter(actor=doctor, subject=patient, action="create").count() == 1


@pytest.mark.parametrize("role", ["patient", "admin_user", "superadmin"])
def test_only_doctors_may_prescribe(as_role, role, consultation, med):
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"))]}

    error_of(as_role(role).post(url(), body), 403, "PERMISSION_DENIED")
    assert not Prescription.objects.exists()


def test_anonymous_cannot_prescribe(api_client, consultation, med):
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"))]}

    error_of(api_client.post(url(), body), 401, "AUTHENTICATION_FAILED")


def test_other_doctor_cannot_prescribe_on_someone_elses_consultation(
    client_for, other_doctor, patient, consultation, med
):
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"))]}

    response = client_for(other_doctor).post(url(), body)

    # Answered like an unknown consultation (no confirmation that it exists), but audited.
    error = error_of(response, 404, "NOT_FOUND")
    assert "amoxicillin" not in response.content.decode()
    assert error["message"] == "No such consultation among yours."
    assert not Prescription.objects.exists()
    assert AuditEntry.objects.filter(actor=other_doctor, subject=patient, action="denied").count() == 1


@pytest.mark.parametrize("state", ["scheduled", "waiting", "cancelled", "no_show", "rescheduled"])
def test_consultation_must_be_under_way_or_over(client_for, doctor, patient, med, state):
    consultation = ConsultationFactory(patient=patient, doctor=doctor, state=state)
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"))]}

    error = error_of(client_for(doctor).post(url(), body), 400, "VALIDATION_ERROR")

    assert "consultation" in error["details"]


def test_completed_consultation_may_be_prescribed_for(client_for, doctor, patient, med):
    consultation = ConsultationFactory(patient=patient, doctor=doctor, state="completed")
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"))]}

    success_data(client_for(doctor).post(url(), body), 201)


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        (
            [{"medication": 999999, "dose": "1", "frequency": "OD", "duration_days": 1, "quantity": 1}],
            "items",
        ),
        (["same-twice"], "items"),
    ],
)
def test_items_are_validated(client_for, doctor, consultation, med, items, field):
    if items == ["same-twice"]:
        items = [item(med("amoxicillin")), item(med("amoxicillin"))]
    body = {"consultation": str(consultation.pk), "items": items}

    error = error_of(client_for(doctor).post(url(), body), 400, "VALIDATION_ERROR")

    assert field in error["details"]


@pytest.mark.parametrize(
    ("override", "bad_field"),
    [
        ({"frequency": "HOURLY"}, "frequency"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 366}, "duration_days"),
        ({"quantity": 0}, "quantity"),
        ({"route": "rectal"}, "route"),
        ({"dose": ""}, "dose"),
    ],
)
def test_item_fields_have_clear_errors(client_for, doctor, consultation, med, override, bad_field):
    body = {"consultation": str(consultation.pk), "items": [item(med("amoxicillin"), **override)]}

    error = error_of(client_for(doctor).post(url(), body), 400, "VALIDATION_ERROR")

    assert bad_field in error["details"]["items"]["0"]


def test_unknown_consultation_is_not_found_like_someone_elses(client_for, doctor, med):
    body = {"consultation": "00000000-0000-0000-0000-000000000000", "items": [item(med("amoxicillin"))]}

    error = error_of(client_for(doctor).post(url(), body), 404, "NOT_FOUND")

    assert error["message"] == "No such consultation among yours."


# --- Editing a draft -----------------------------------------------------------------------------


def test_doctor_replaces_the_items_of_a_draft(client_for, doctor, draft, med):
    body = {"items": [item(med("cetirizine"), frequency="QHS", quantity=7)]}

    data = success_data(client_for(doctor).patch(url(draft), body))

    assert [i["medication"]["generic_name"] for i in data["items"]] == ["cetirizine"]
    assert data["notes"] == "Rest and fluids."


def test_patch_with_notes_only_keeps_the_items(client_for, doctor, draft):
    data = success_data(client_for(doctor).patch(url(draft), {"notes": "Plenty of water."}))

    assert data["notes"] == "Plenty of water."
    assert len(data["items"]) == 2


def test_put_needs_the_items(client_for, doctor, draft):
    error = error_of(client_for(doctor).put(url(draft), {"notes": "x"}), 400, "VALIDATION_ERROR")

    assert "items" in error["details"]


def test_other_doctor_cannot_edit_draft(client_for, other_doctor, draft, med, patient):
    response = client_for(other_doctor).patch(url(draft), {"items": [item(med("warfarin"))]})

    error_of(response, 404, "NOT_FOUND")
    assert "amoxicillin" not in response.content.decode()
    assert draft.items.count() == 2
    assert AuditEntry.objects.filter(actor=other_doctor, subject=patient, action="denied").count() == 1


@pytest.mark.parametrize("role", ["patient", "admin_user", "superadmin"])
def test_only_the_doctor_edits_a_draft(as_role, role, draft):
    error_of(as_role(role).patch(url(draft), {"notes": "changed"}), 403, "PERMISSION_DENIED")
    draft.refresh_from_db()
    assert draft.notes == "Rest and fluids."


def test_doctor_deletes_a_draft(client_for, doctor, draft):
    success_data(client_for(doctor).delete(url(draft)))

    assert not Prescription.objects.filter(pk=draft.pk).exists()


@pytest.mark.parametrize(("role", "status"), [("other_doctor", 404), ("patient", 403), ("admin_user", 403)])
def test_others_cannot_delete_a_draft(as_role, role, status, draft):
    response = as_role(role).delete(url(draft))

    assert response.status_code == status
    assert Prescription.objects.filter(pk=draft.pk, status=PrescriptionStatus.DRAFT).exists()
