"""The printable PDF, and the public verify endpoint a pharmacy uses."""

from __future__ import annotations

import re
import zlib
from datetime import date

import pytest

from clinical.models import PatientProfile
from clinical.prescriptions import selectors, services
from clinical.prescriptions.selectors import format_code
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import url

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    """The text drawn on the pages: fpdf2 deflates its content streams. Each stream is cut by its
    declared /Length (a regex on ``endstream`` would eat a trailing CR of the binary data)."""
    chunks = []
    for match in re.finditer(rb"/Length (\d+)[^>]*>>\s*stream\r?\n", content):
        start = match.end()
        stream = content[start : start + int(match.group(1))]
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            chunks.append(stream)
    return b"\n".join(chunks).decode("latin-1")


def verify_url(code: str) -> str:
    return f"/api/prescriptions/verify/{code}/"


# --- PDF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user", "superadmin"])
def test_allowed_roles_download_the_pdf(as_role, role, issued):
    response = as_role(role).get(url(issued, "pdf"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert response.content.startswith(b"%PDF")


def test_pdf_carries_doctor_registration_patient_items_and_code(client_for, patient, doctor_profile, issued):
    PatientProfile.objects.create(user=patient, date_of_birth=date(1990, 1, 1), sex="female")

    response = client_for(patient).get(url(issued, "pdf"), HTTP_ACCEPT="application/pdf")

    text = pdf_text(response.content)
    issued.refresh_from_db()
    assert format_code(issued.verification_code) in text
    assert "MH-12345" in text
    assert "Maharashtra Medical Council" in text
    assert patient.first_name in text
    assert "Female" in text
    assert f"{selectors.age_on(date(1990, 1, 1), issued.issued_at.date())} y" in text
    assert "amoxicillin" in text
    assert "After food" in text
    assert "Rest and fluids." in text
    assert "/api/prescriptions/verify/" in text


def test_pdf_of_a_doctor_without_profile_says_so(client_for, doctor, issued):
    text = pdf_text(client_for(doctor).get(url(issued, "pdf")).content)

    assert "not on file" in text


def test_pdf_download_by_someone_else_is_audited(client_for, admin_user, patient, issued):
    client_for(admin_user).get(url(issued, "pdf"))

    assert AuditEntry.objects.filter(actor=admin_user, subject=patient, action="download").count() == 1


def test_draft_has_no_pdf(client_for, doctor, draft):
    error_of(client_for(doctor).get(url(draft, "pdf")), 409, "CONFLICT")


def test_superseded_pdf_is_marked(client_for, patient, doctor, issued, revision):
    services.issue_prescription(doctor, revision)

    text = pdf_text(client_for(patient).get(url(issued, "pdf")).content)

    assert "SUPERSEDED" in text


@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_other_patient_and_other_doctor_cannot_download_pdf(as_role, role, issued):
    response = as_role(role).get(url(issued, "pdf"), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert b"%PDF" not in response.content
    assert b"amoxicillin" not in response.content


def test_anonymous_cannot_download_pdf(api_client, issued):
    error_of(api_client.get(url(issued, "pdf")), 401, "AUTHENTICATION_FAILED")


# --- Verify --------------------------------------------------------------------------------------


def test_pharmacy_verifies_a_code_with_minimal_data(api_client, doctor, patient, doctor_profile, issued):
    data = success_data(api_client.get(verify_url(format_code(issued.verification_code))))

    assert data == {
        "status": "valid",
        "valid": True,
        "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
        "version": 1,
        "doctor": {
            "name": doctor.full_name,
            "registration_number": "MH-12345",
            "council": "Maharashtra Medical Council",
        },
        "patient_initials": f"{patient.first_name[0]}.{patient.last_name[0]}.",
        "items": [
            {"medicine": "amoxicillin (Amoxil) 500 mg capsule", "quantity": 10},
            {"medicine": "paracetamol (Crocin) 500 mg tablet", "quantity": 6},
        ],
    }


def test_verify_leaks_no_other_health_data(api_client, patient, issued):
    body = api_client.get(verify_url(issued.verification_code)).content.decode()

    for secret in (patient.first_name, patient.phone, str(patient.pk), "Rest and fluids", "BD"):
        assert secret not in body


def test_verify_accepts_lower_case_and_lookalike_characters(api_client, issued):
    code = issued.verification_code.lower().replace("0", "o").replace("1", "l")

    assert success_data(api_client.get(verify_url(code)))["valid"] is True


def test_superseded_code_says_so_without_items(api_client, doctor, issued, revision):
    services.issue_prescription(doctor, revision)

    data = success_data(api_client.get(verify_url(issued.verification_code)))

    assert (data["status"], data["valid"], data["items"]) == ("superseded", False, [])


@pytest.mark.parametrize("code", ["ABCDE-FGHJK", "short", "!!!!!!!!!!"])
def test_unknown_code_is_404(api_client, issued, code):
    error_of(api_client.get(verify_url(code)), 404, "NOT_FOUND")


def test_verification_is_audited_as_an_anonymous_read(api_client, patient, issued):
    api_client.get(verify_url(issued.verification_code))

    entry = AuditEntry.objects.get(resource="prescription_verification")
    assert (entry.actor_id, entry.subject_id, entry.action) == (None, patient.pk, "read")


def test_verify_is_rate_limited_against_enumeration(api_client, settings, issued):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_lookup": "3/min",
        },
    }
    statuses = [api_client.get(verify_url(f"ABCDE-FGHJ{n}")).status_code for n in range(4)]

    assert statuses == [404, 404, 404, 429]
