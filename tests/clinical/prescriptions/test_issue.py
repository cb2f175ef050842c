"""Checking, issuing, the lock, and corrections."""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from clinical.models import Allergy, CurrentMedication, Prescription, PrescriptionItem, PrescriptionStatus
from clinical.prescriptions import services
from clinical.prescriptions.services import PrescriptionLocked
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import item, service_item, url

pytestmark = pytest.mark.django_db

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")


@pytest.fixture
def risky_draft(doctor, consultation, med) -> Prescription:
    """Warfarin with ibuprofen: a severe interaction."""
    return services.create_prescription(
        doctor, consultation, items=[service_item(med("warfarin")), service_item(med("ibuprofen"))]
    )


# --- Check ---------------------------------------------------------------------------------------


def test_check_reports_pairs_current_medicines_and_allergies(client_for, doctor, patient, consultation, med):
    CurrentMedication.objects.create(patient=patient, name="Ecosprin 75")
    Allergy.objects.create(patient=patient, substance="Penicillin", severity="severe")
    draft = services.create_prescription(
        doctor,
        consultation,
        items=[
            service_item(med("amoxicillin")),
            service_item(med("simvastatin")),
            service_item(med("clarithromycin")),
        ],
    )

    data = success_data(client_for(doctor).post(url(draft, "check")))

    found = {(f["kind"], f["against"], tuple(sorted(f["drugs"]))) for f in data["findings"]}
    assert ("interaction", "prescription", ("clarithromycin", "simvastatin")) in found
    assert ("allergy", "allergy", ("penicillins",)) in found
    assert data["blocking"] is True
    assert "NOT a complete" in data["disclaimer"]
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert draft.warnings == []


def test_check_finds_interaction_with_current_medication(client_for, doctor, patient, consultation, med):
    CurrentMedication.objects.create(patient=patient, name="Coumadin 5 mg")
    draft = services.create_prescription(doctor, consultation, items=[service_item(med("ibuprofen"))])

    data = success_data(client_for(doctor).post(url(draft, "check")))

    assert [(f["against"], f["severity"], f["other"]) for f in data["findings"]] == [
        ("current_medication", "severe", "Coumadin 5 mg")
    ]


def test_check_finds_interaction_with_another_running_prescription(
    client_for, doctor, patient, consultation, med, issued
):
    # ``issued`` holds amoxicillin; warfarin with it is a minor interaction.
    draft = services.create_prescription(doctor, consultation, items=[service_item(med("warfarin"))])

    data = success_data(client_for(doctor).post(url(draft, "check")))

    assert [(f["against"], f["severity"]) for f in data["findings"]] == [("active_prescription", "minor")]


@pytest.mark.parametrize(("role", "status"), [("other_doctor", 404), ("patient", 403), ("admin_user", 403)])
def test_only_the_doctor_runs_the_check(as_role, role, status, risky_draft):
    response = as_role(role).post(url(risky_draft, "check"))

    assert response.status_code == status
    assert "warfarin" not in response.content.decode()


# --- Issue ---------------------------------------------------------------------------------------


def test_doctor_issues_a_clean_prescription(client_for, doctor, draft):
    data = success_data(client_for(doctor).post(url(draft, "issue")))

    assert data["status"] == "issued"
    assert data["issued_at"] is not None
    assert CODE.match(data["verification_code"])
    assert data["warnings"] == []
    assert data["override_reason"] == ""


def test_verification_codes_are_random_and_unique(doctor, consultation, med):
    codes = set()
    for _ in range(20):
        draft = services.create_prescription(doctor, consultation, items=[service_item(med("cetirizine"))])
        codes.add(services.issue_prescription(doctor, draft).verification_code)

    assert len(codes) == 20
    assert all(len(code) == 10 for code in codes)


def test_severe_interaction_blocks_issue_without_override(client_for, doctor, risky_draft):
    response = client_for(doctor).post(url(risky_draft, "issue"))

    error = error_of(response, 409, "INTERACTION_BLOCKED")
    assert [(f["severity"], sorted(f["drugs"])) for f in error["details"]["findings"]] == [
        ("severe", ["ibuprofen", "warfarin"])
    ]
    risky_draft.refresh_from_db()
    assert risky_draft.status == "draft"
    assert risky_draft.verification_code is None


def test_severe_allergy_blocks_issue(client_for, doctor, patient, consultation, med):
    Allergy.objects.create(patient=patient, substance="penicillins")
    draft = services.create_prescription(doctor, consultation, items=[service_item(med("amoxicillin"))])

    error = error_of(client_for(doctor).post(url(draft, "issue")), 409, "INTERACTION_BLOCKED")

    assert error["details"]["findings"][0]["kind"] == "allergy"


def test_override_reason_must_be_meaningful(client_for, doctor, risky_draft):
    error = error_of(
        client_for(doctor).post(url(risky_draft, "issue"), {"override_reason": "ok"}), 400, "VALIDATION_ERROR"
    )

    assert "override_reason" in error["details"]


def test_override_is_recorded_with_the_findings(client_for, doctor, risky_draft, patient):
    reason = "INR monitored twice weekly; short course agreed with haematology."

    data = success_data(client_for(doctor).post(url(risky_draft, "issue"), {"override_reason": reason}))

    assert data["status"] == "issued"
    assert data["override_reason"] == reason
    assert [w["severity"] for w in data["warnings"]] == ["severe"]
    risky_draft.refresh_from_db()
    assert risky_draft.override_reason == reason
    assert risky_draft.warnings[0]["source"].startswith("BNF")
    assert AuditEntry.objects.filter(actor=doctor, subject=patient, action="update").exists()


def test_moderate_findings_do_not_block_and_are_kept(client_for, doctor, consultation, med):
    draft = services.create_prescription(
        doctor, consultation, items=[service_item(med("clopidogrel")), service_item(med("omeprazole"))]
    )

    data = success_data(client_for(doctor).post(url(draft, "issue"), {"override_reason": "not needed here"}))

    assert [w["severity"] for w in data["warnings"]] == ["moderate"]
    assert data["override_reason"] == ""  # nothing was overridden


@pytest.mark.parametrize(("role", "status"), [("other_doctor", 404), ("patient", 403), ("superadmin", 403)])
def test_only_the_doctor_issues(as_role, role, status, draft):
    assert as_role(role).post(url(draft, "issue")).status_code == status
    draft.refresh_from_db()
    assert draft.status == "draft"


# --- The lock ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"notes": "changed"}),
        ("put", "", {"notes": "changed", "items": [{"medication": 1}]}),
        ("delete", "", None),
        ("post", "issue", {}),
    ],
)
def test_issued_prescription_is_locked(client_for, doctor, issued, med, method, suffix, body):
    if body and "items" in body:
        body["items"] = [item(med("cetirizine"))]
    response = getattr(client_for(doctor), method)(url(issued, suffix), body)

    error_of(response, 409, "PRESCRIPTION_LOCKED")
    issued.refresh_from_db()
    assert issued.notes == "Rest and fluids."
    assert issued.items.count() == 2


def test_model_guard_refuses_orm_changes_to_an_issued_prescription(issued, med):
    line = issued.items.first()
    line.quantity = 99
    issued.notes = "quietly changed"
    attempts = [
        issued.save,
        Prescription.objects.get(pk=issued.pk).delete,
        lambda: PrescriptionItem.objects.create(
            prescription=issued,
            medication=med("warfarin"),
            dose="1",
            frequency="OD",
            duration_days=1,
            quantity=1,
        ),
        line.save,
        line.delete,
    ]
    for attempt in attempts:
        with pytest.raises(PrescriptionLocked), transaction.atomic():
            attempt()

    issued.refresh_from_db()
    assert issued.notes == "Rest and fluids."
    assert sorted(issued.items.values_list("quantity", flat=True)) == [6, 10]


def test_model_guard_refuses_going_back_to_draft(issued):
    issued.status = PrescriptionStatus.DRAFT
    with pytest.raises(PrescriptionLocked):
        issued.save()


# --- Corrections ---------------------------------------------------------------------------------


def test_revise_makes_a_linked_draft_copy(client_for, doctor, issued):
    data = success_data(client_for(doctor).post(url(issued, "revise")), 201)

    assert data["status"] == "draft"
    assert data["version"] == 2
    assert data["previous"] == str(issued.pk)
    assert [i["medication"]["id"] for i in data["items"]] == [i.medication_id for i in issued.items.all()]
    issued.refresh_from_db()
    assert issued.status == "issued"  # still valid until the correction is issued


def test_issuing_the_revision_supersedes_the_old_version(client_for, doctor, issued, revision):
    data = success_data(client_for(doctor).post(url(revision, "issue")))

    assert data["status"] == "issued"
    assert data["verification_code"] != issued.verification_code
    old = success_data(client_for(doctor).get(url(issued)))
    assert old["status"] == "superseded"
    assert old["correction"] == str(revision.pk)


def test_chain_of_corrections(doctor, issued):
    second = services.issue_prescription(doctor, services.revise_prescription(doctor, issued))
    third = services.issue_prescription(doctor, services.revise_prescription(doctor, second))

    statuses = dict(Prescription.objects.values_list("version", "status"))
    assert statuses == {1: "superseded", 2: "superseded", 3: "issued"}
    assert third.previous.previous == issued


def test_only_one_correction_at_a_time(client_for, doctor, issued, revision):
    error = error_of(client_for(doctor).post(url(issued, "revise")), 409, "CONFLICT")

    assert error["details"]["correction"] == str(revision.pk)


def test_a_draft_or_superseded_version_is_not_revised(client_for, doctor, issued, revision):
    error_of(client_for(doctor).post(url(revision, "revise")), 409, "CONFLICT")
    services.issue_prescription(doctor, revision)
    error_of(client_for(doctor).post(url(issued, "revise")), 409, "CONFLICT")


@pytest.mark.parametrize(("role", "status"), [("other_doctor", 404), ("patient", 403), ("admin_user", 403)])
def test_only_the_doctor_revises(as_role, role, status, issued):
    assert as_role(role).post(url(issued, "revise")).status_code == status
    assert Prescription.objects.count() == 1


def test_revision_is_not_checked_against_the_version_it_replaces(
    client_for, doctor, patient, consultation, med
):
    draft = services.create_prescription(doctor, consultation, items=[service_item(med("warfarin"))])
    old = services.issue_prescription(doctor, draft)
    revision = services.revise_prescription(doctor, old)

    data = success_data(client_for(doctor).post(url(revision, "check")))

    assert data["findings"] == []
