"""The admin pages of the clinical models: every list and change page renders for a superuser on
demo data; health records and issued prescriptions cannot be changed from the admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from clinical.models import (
    Consultation,
    ConsultationState,
    DoctorProfile,
    Document,
    Medication,
    PatientProfile,
    Prescription,
    PrescriptionStatus,
    VerificationStatus,
)
from clinical.prescriptions import services

CLINICAL_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label == "clinical"),
    key=lambda model: model._meta.model_name,
)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def demo_data(db, superadmin):
    call_command("seed_demo", "--patients", "8", "--doctors", "4", "--clinics", "2", stdout=StringIO())
    Document.objects.create(
        owner=PatientProfile.objects.first().user,
        uploaded_by=superadmin,
        file="documents/2030/01/not-on-disk",
        content_type="application/pdf",
        size=1234,
        sha256="0" * 64,
        original_name="report.pdf",
    )


@pytest.fixture
def admin_client(superadmin) -> Client:
    client = Client()
    client.force_login(superadmin)
    return client


def test_every_clinical_model_is_registered():
    names = {model._meta.model_name for model in CLINICAL_MODELS}
    assert {
        "doctorprofile",
        "patientprofile",
        "clinic",
        "medication",
        "prescription",
        "consultation",
    } <= names


def test_every_changelist_renders_for_superuser(demo_data, admin_client):
    # One seeding for all pages; the failures name the models.
    empty = [model._meta.model_name for model in CLINICAL_MODELS if not model.objects.exists()]
    assert empty == [], "the demo data should give every list a row"
    statuses = {
        m._meta.model_name: admin_client.get(admin_url(m, "changelist")).status_code for m in CLINICAL_MODELS
    }
    assert {name: status for name, status in statuses.items() if status != 200} == {}


def test_every_change_page_renders_for_superuser(demo_data, admin_client):
    statuses = {
        model._meta.model_name: admin_client.get(
            admin_url(model, "change", model.objects.order_by("pk").first().pk)
        ).status_code
        for model in CLINICAL_MODELS
    }
    assert {name: status for name, status in statuses.items() if status != 200} == {}


def test_admin_pages_need_staff_login(demo_data, patient):
    client = Client()
    client.force_login(patient)
    response = client.get(admin_url(PatientProfile, "changelist"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_patient_profile_is_read_only(demo_data, admin_client):
    profile = PatientProfile.objects.first()
    response = admin_client.post(admin_url(PatientProfile, "change", profile.pk), {"city": "Nowhere"})
    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.city != "Nowhere"
    assert admin_client.get(admin_url(PatientProfile, "add")).status_code == 403


def test_issued_prescription_is_read_only(demo_data, admin_client):
    prescription = Prescription.objects.filter(status=PrescriptionStatus.ISSUED).first()
    page = admin_client.get(admin_url(Prescription, "change", prescription.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = admin_client.post(admin_url(Prescription, "change", prescription.pk), {"notes": "edited"})
    assert response.status_code == 403
    assert admin_client.post(admin_url(Prescription, "delete", prescription.pk)).status_code == 403
    prescription.refresh_from_db()
    assert prescription.notes != "edited"


def test_draft_prescription_can_be_corrected(demo_data, admin_client):
    consultation = Consultation.objects.filter(state=ConsultationState.IN_PROGRESS).first()
    draft = services.create_prescription(
        consultation.doctor,
        consultation,
        notes="Draft",
        items=[
            {
                "medication": Medication.objects.first(),
                "dose": "1 tablet",
                "frequency": "OD",
                "duration_days": 3,
                "quantity": 3,
            }
        ],
    )
    page = admin_client.get(admin_url(Prescription, "change", draft.pk))
    assert b'name="_save"' in page.content
    form = {
        "notes": "Corrected by support",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(admin_url(Prescription, "change", draft.pk), form)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.notes == "Corrected by support"
    assert draft.status == PrescriptionStatus.DRAFT


def test_document_page_shows_no_file_link(demo_data, admin_client):
    document = Document.objects.get(original_name="report.pdf")
    response = admin_client.get(admin_url(Document, "change", document.pk))
    assert response.status_code == 200
    assert b"not-on-disk" not in response.content


def test_verify_action_goes_through_the_workflow(demo_data, admin_client, superadmin):
    pending = DoctorProfile.objects.filter(verification_status=VerificationStatus.PENDING).first()
    response = admin_client.post(
        admin_url(DoctorProfile, "changelist"),
        {"action": "verify_selected", "_selected_action": [pending.pk]},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.verification_status == VerificationStatus.VERIFIED
    assert pending.verified_by == superadmin
