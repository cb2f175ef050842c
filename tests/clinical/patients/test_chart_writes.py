"""Who writes what in a patient's chart: the patient their own history, treating doctors the shared
problem list, records and notes, authors their own records and notes, staff nothing clinical."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import (
    Condition,
    Document,
    EmergencyContact,
    MedicalRecord,
    PatientNote,
    Surgery,
)
from telehealth.audit.models import AuditEntry
from tests.clinical.patients.conftest import ROLES, SECRET, url
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db

PAYLOADS = {
    "conditions": {"name": "Hypertension", "icd10_code": "i10"},
    "allergies": {"substance": "Peanuts", "severity": "mild", "reaction": "hives"},
    "surgeries": {"procedure": "Tonsillectomy", "performed_on": "2010-03-04"},
    "family-history": {"relation": "father", "condition": "Stroke"},
    "medications": {"name": "Amlodipine", "dose": "5 mg", "frequency": "daily"},
    "insurance": {
        "provider": "Acme",
        "policy_number": "X-9",
        "valid_from": "2024-01-01",
        "valid_until": "2030-01-01",
    },
    "emergency-contacts": {"name": "Carol", "relation": "sister", "phone": "+91 98000 00077"},
    "records": {"record_type": "imaging", "title": "Chest X-ray", "record_date": "2024-02-03"},
    "notes": {"text": "Follow up in two weeks."},
}
DOCTOR_CREATES = {"conditions", "allergies", "records", "notes"}


def _create_status(role: str, collection: str) -> int:
    if role == "patient":
        return 403 if collection == "notes" else 201
    if role == "doctor":
        return 201 if collection in DOCTOR_CREATES else 403
    return {"other_patient": 404, "other_doctor": 404, "admin_user": 403, "superadmin": 403}.get(role, 401)


@pytest.mark.parametrize("collection", list(PAYLOADS))
@pytest.mark.parametrize("role", ROLES)
def test_adding_to_a_chart_follows_the_write_rules(as_role, cast, patient, collection, role):
    response = as_role(role).post(url(patient, collection), PAYLOADS[collection])

    expected = _create_status(role, collection)
    assert response.status_code == expected, response.content
    writes = AuditEntry.objects.filter(action="create")
    if expected == 201:
        data = response.json()["data"]
        assert data["patient_id"] == str(patient.pk)
        if role == "doctor":
            assert writes.get().object_id == str(data["id"])
        else:
            assert not writes.exists()  # the patient's own data
    else:
        assert not writes.exists()
        if role in {"doctor", "other_patient", "other_doctor", "admin_user", "superadmin"}:
            entry = AuditEntry.objects.get(action="denied")
            assert (entry.actor, entry.subject) == (cast[role], patient)


def test_record_and_note_authors_are_the_writer(client_for, patient, doctor, consultation):
    record = client_for(doctor).post(url(patient, "records"), PAYLOADS["records"]).json()["data"]
    note = client_for(doctor).post(url(patient, "notes"), PAYLOADS["notes"]).json()["data"]
    own = client_for(patient).post(url(patient, "records"), PAYLOADS["records"]).json()["data"]

    assert record["authored_by"] == str(doctor.pk)
    assert record["authored_by_name"] == doctor.full_name
    assert note["author"] == str(doctor.pk)
    assert own["authored_by"] == str(patient.pk)
    assert PatientNote.objects.get().author == doctor


def test_patient_changes_and_deletes_their_own_history(client_for, patient, chart):
    client = client_for(patient)
    for collection in ["conditions", "surgeries", "medications", "insurance", "emergency-contacts"]:
        item = chart[collection]
        assert client.patch(url(patient, collection, item.pk), {"notes": "x"}).status_code == 200
        assert client.delete(url(patient, collection, item.pk)).status_code == 200
        assert not type(item).objects.filter(pk=item.pk).exists()


def test_patient_replaces_an_item_with_put(client_for, patient, chart):
    allergy = chart["allergies"]

    response = client_for(patient).put(
        url(patient, "allergies", allergy.pk), {"substance": "Latex", "severity": "mild"}
    )

    assert response.status_code == 200
    allergy.refresh_from_db()
    assert (allergy.substance, allergy.severity, allergy.reaction) == ("Latex", "mild", "")


def test_doctor_changes_a_condition_but_cannot_delete_it(client_for, patient, doctor, consultation, chart):
    condition = chart["conditions"]
    client = client_for(doctor)

    assert client.patch(url(patient, "conditions", condition.pk), {"active": False}).status_code == 200
    response = client.delete(url(patient, "conditions", condition.pk))

    assert response.status_code == 403
    condition.refresh_from_db()
    assert condition.active is False
    assert list(AuditEntry.objects.order_by("at", "id").values_list("action", flat=True)) == [
        "update",
        "denied",
    ]


def test_doctor_cannot_change_the_patients_own_history(client_for, patient, doctor, consultation, chart):
    surgery = chart["surgeries"]

    response = client_for(doctor).patch(url(patient, "surgeries", surgery.pk), {"procedure": "Other"})

    assert response.status_code == 403
    assert SECRET not in response.content.decode()
    surgery.refresh_from_db()
    assert surgery.procedure.startswith(SECRET)
    assert AuditEntry.objects.get().action == "denied"


def test_patient_cannot_change_a_record_written_by_their_doctor(client_for, patient, doctor, consultation):
    record = MedicalRecord.objects.create(
        patient=patient,
        record_type="discharge_summary",
        title="Discharge",
        record_date="2024-01-01",
        authored_by=doctor,
    )
    client = client_for(patient)

    assert client.patch(url(patient, "records", record.pk), {"title": "Changed"}).status_code == 403
    assert client.delete(url(patient, "records", record.pk)).status_code == 403
    record.refresh_from_db()
    assert record.title == "Discharge"


def test_doctor_changes_own_record_but_not_the_patients(client_for, patient, doctor, consultation, chart):
    own = MedicalRecord.objects.create(
        patient=patient,
        record_type="referral",
        title="Referral",
        record_date="2024-01-01",
        authored_by=doctor,
    )
    client = client_for(doctor)

    assert (
        client.patch(url(patient, "records", own.pk), {"title": "Referral to cardiology"}).status_code == 200
    )
    assert client.patch(url(patient, "records", chart["records"].pk), {"title": "x"}).status_code == 403
    assert client.delete(url(patient, "records", own.pk)).status_code == 200
    assert not MedicalRecord.objects.filter(pk=own.pk).exists()


def test_only_the_author_changes_a_note(client_for, patient, doctor, consultation, chart):
    colleague = UserFactory(role="doctor")
    ConsultationFactory(patient=patient, doctor=colleague)
    note = chart["notes"]

    assert client_for(colleague).get(url(patient, "notes", note.pk)).status_code == 200
    assert (
        client_for(colleague).patch(url(patient, "notes", note.pk), {"text": "mine now"}).status_code == 403
    )
    assert client_for(colleague).delete(url(patient, "notes", note.pk)).status_code == 403
    assert client_for(doctor).patch(url(patient, "notes", note.pk), {"text": "revised"}).status_code == 200
    note.refresh_from_db()
    assert note.text == "revised"


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_cannot_change_clinical_content(as_role, patient, chart, role):
    condition, note = chart["conditions"], chart["notes"]
    client = as_role(role)

    assert client.patch(url(patient, "conditions", condition.pk), {"name": "x"}).status_code == 403
    assert client.delete(url(patient, "conditions", condition.pk)).status_code == 403
    assert client.patch(url(patient, "notes", note.pk), {"text": "x"}).status_code == 403
    assert Condition.objects.filter(pk=condition.pk, name=condition.name).exists()
    assert AuditEntry.objects.filter(action="denied").count() == 3


@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_outsider_cannot_change_or_delete_chart_items(as_role, patient, chart, role):
    condition = chart["conditions"]
    client = as_role(role)

    patched = client.patch(url(patient, "conditions", condition.pk), {"name": "x"})
    deleted = client.delete(url(patient, "conditions", condition.pk))

    assert (patched.status_code, deleted.status_code) == (404, 404)
    assert SECRET not in patched.content.decode() + deleted.content.decode()
    assert Condition.objects.filter(pk=condition.pk).exists()


# --- Validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "payload", "field"),
    [
        ("conditions", {"name": "x", "icd10_code": "NOTACODE"}, "icd10_code"),
        ("conditions", {"icd10_code": "E11"}, "name"),
        ("allergies", {"substance": "x", "severity": "deadly"}, "severity"),
        ("surgeries", {"procedure": "x", "performed_on": "2999-01-01"}, "performed_on"),
        (
            "insurance",
            {"provider": "x", "policy_number": "1", "valid_from": "2025-01-01", "valid_until": "2024-01-01"},
            "valid_until",
        ),
        ("emergency-contacts", {"name": "x", "relation": "y", "phone": "12"}, "phone"),
        ("records", {"record_type": "horoscope", "title": "x", "record_date": "2024-01-01"}, "record_type"),
        ("records", {"record_type": "other", "title": "x"}, "record_date"),
        ("notes", {"text": ""}, "text"),
    ],
)
def test_invalid_chart_input_is_refused_with_field_errors(
    client_for, patient, doctor, consultation, collection, payload, field
):
    writer = doctor if collection == "notes" else patient

    response = client_for(writer).post(url(patient, collection), payload)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]


def test_record_date_cannot_be_in_the_future(client_for, patient):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client_for(patient).post(
        url(patient, "records"), {"record_type": "other", "title": "x", "record_date": tomorrow}
    )
    assert response.status_code == 400
    assert "record_date" in response.json()["error"]["details"]


def test_emergency_contact_phone_is_stored_in_e164(client_for, patient):
    response = client_for(patient).post(url(patient, "emergency-contacts"), PAYLOADS["emergency-contacts"])

    assert response.status_code == 201
    assert response.json()["data"]["phone"] == "+919800000077"
    assert EmergencyContact.objects.get().phone == "+919800000077"


def test_condition_code_is_normalised(client_for, patient):
    response = client_for(patient).post(
        url(patient, "conditions"), {"name": "Diabetes", "icd10_code": "e11.9"}
    )

    assert response.json()["data"]["icd10_code"] == "E11.9"


def test_insurance_reports_whether_it_is_valid_today(client_for, patient):
    today = timezone.localdate()
    client = client_for(patient)
    current = {"provider": "A", "policy_number": "1", "valid_until": (today + timedelta(days=1)).isoformat()}
    lapsed = {"provider": "B", "policy_number": "2", "valid_until": (today - timedelta(days=1)).isoformat()}

    assert client.post(url(patient, "insurance"), current).json()["data"]["is_valid_today"] is True
    assert client.post(url(patient, "insurance"), lapsed).json()["data"]["is_valid_today"] is False
    valid_now = client.get(url(patient, "insurance"), {"valid_on": today.isoformat()}).json()["data"]
    assert [row["provider"] for row in valid_now["results"]] == ["A"]


def test_record_links_only_a_document_of_the_same_patient(client_for, patient, other_patient):
    def document_of(owner):
        return Document.objects.create(
            owner=owner,
            uploaded_by=owner,
            file="documents/x",
            content_type="application/pdf",
            size=1,
            sha256="0",
        )

    mine, theirs = document_of(patient), document_of(other_patient)
    client = client_for(patient)
    payload = {"record_type": "lab_report", "title": "CBC", "record_date": "2024-01-01"}

    linked = client.post(url(patient, "records"), {**payload, "document": str(mine.pk)})
    refused = client.post(url(patient, "records"), {**payload, "document": str(theirs.pk)})

    assert linked.status_code == 201
    assert linked.json()["data"]["document"] == str(mine.pk)
    assert refused.status_code == 400
    assert "document" in refused.json()["error"]["details"]


def test_chart_lists_filter_and_search(client_for, patient):
    Surgery.objects.create(patient=patient, procedure="Knee replacement", performed_on="2015-06-01")
    Surgery.objects.create(patient=patient, procedure="Cataract", performed_on="2021-06-01")
    Condition.objects.create(patient=patient, name="Asthma", active=False)
    Condition.objects.create(patient=patient, name="Migraine", active=True)
    client = client_for(patient)

    def names(collection, params, key):
        return [r[key] for r in client.get(url(patient, collection), params).json()["data"]["results"]]

    assert names("surgeries", {"performed_after": "2020-01-01"}, "procedure") == ["Cataract"]
    assert names("surgeries", {"search": "knee"}, "procedure") == ["Knee replacement"]
    assert names("conditions", {"active": "false"}, "name") == ["Asthma"]
    assert names("conditions", {"ordering": "name"}, "name") == ["Asthma", "Migraine"]
