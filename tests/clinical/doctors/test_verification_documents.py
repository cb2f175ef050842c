"""Verification documents: the doctor uploads and lists their own; staff list and download them to
decide; nobody else learns they exist."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.models import Document
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import PDF, STAFF, url

pytestmark = pytest.mark.django_db

MINE = url("me", "verification-documents")


@pytest.fixture
def licence(client_for, pending_profile, pdf_upload) -> Document:
    response = client_for(pending_profile.user).post(MINE, {"file": pdf_upload()}, format="multipart")
    return Document.objects.get(pk=success_data(response, 201)["id"])


def test_doctor_uploads_a_verification_document(client_for, pending_profile, pdf_upload):
    data = success_data(
        client_for(pending_profile.user).post(MINE, {"file": pdf_upload("licence.pdf")}, format="multipart"),
        201,
    )
    assert data["content_type"] == "application/pdf"
    assert data["original_name"] == "licence.pdf"
    document = Document.objects.get(pk=data["id"])
    assert (document.owner, document.kind) == (pending_profile.user, "verification")


def test_upload_type_is_read_from_the_bytes(client_for, pending_profile):
    fake = SimpleUploadedFile(
        "licence.pdf", b"<html><script>alert(1)</script></html>", content_type="application/pdf"
    )
    error_of(
        client_for(pending_profile.user).post(MINE, {"file": fake}, format="multipart"),
        415,
        "UNSUPPORTED_FILE_TYPE",
    )
    assert not Document.objects.exists()


def test_upload_without_a_file_is_refused(client_for, pending_profile):
    error = error_of(
        client_for(pending_profile.user).post(MINE, {}, format="multipart"), 400, "VALIDATION_ERROR"
    )
    assert "file" in error["details"]


def test_doctor_without_profile_cannot_upload(client_for, doctor, pdf_upload):
    error_of(client_for(doctor).post(MINE, {"file": pdf_upload()}, format="multipart"), 404, "NOT_FOUND")


def test_doctor_lists_and_downloads_own_documents(client_for, pending_profile, licence):
    client = client_for(pending_profile.user)
    assert [d["id"] for d in success_data(client.get(MINE))["results"]] == [str(licence.pk)]
    response = client.get(url("me", "verification-documents", licence.pk, "download"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment")
    assert not AuditEntry.objects.exists()  # own data


@pytest.mark.parametrize("role", STAFF)
def test_staff_list_and_download_a_doctors_documents_audited(role, as_role, pending_profile, licence):
    actor, client = as_role(role)
    listed = success_data(client.get(url(pending_profile.user_id, "verification-documents")))
    assert [d["id"] for d in listed["results"]] == [str(licence.pk)]

    response = client.get(url(pending_profile.user_id, "verification-documents", licence.pk, "download"))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    actions = set(
        AuditEntry.objects.filter(actor=actor, subject=pending_profile.user).values_list("action", flat=True)
    )
    assert actions == {"read", "download"}


@pytest.mark.parametrize("role", ["patient", "other_patient", "other_doctor"])
def test_other_users_cannot_read_verification_documents(role, as_role, pending_profile, licence):
    actor, client = as_role(role)
    for path in (
        url(pending_profile.user_id, "verification-documents"),
        url(pending_profile.user_id, "verification-documents", licence.pk, "download"),
    ):
        response = client.get(path)
        error = error_of(response, 404, "NOT_FOUND")
        assert str(licence.pk) not in str(error)
        assert b"%PDF" not in response.content
    denied = AuditEntry.objects.filter(actor=actor, action="denied")
    assert denied.count() == 2
    assert {entry.subject_id for entry in denied} == {pending_profile.user_id}


def test_other_doctor_cannot_download_through_their_own_me_path(client_for, other_doctor_profile, licence):
    response = client_for(other_doctor_profile.user).get(
        url("me", "verification-documents", licence.pk, "download")
    )
    error_of(response, 404, "NOT_FOUND")
    assert b"%PDF" not in response.content


def test_other_doctor_does_not_see_them_in_their_own_list(client_for, other_doctor_profile, licence):
    assert success_data(client_for(other_doctor_profile.user).get(MINE))["count"] == 0


def test_medical_documents_are_not_verification_documents(client_for, admin_user, pending_profile, licence):
    Document.objects.filter(pk=licence.pk).update(kind="medical")
    client = client_for(admin_user)
    assert success_data(client.get(url(pending_profile.user_id, "verification-documents")))["count"] == 0
    error_of(
        client.get(url(pending_profile.user_id, "verification-documents", licence.pk, "download")),
        404,
        "NOT_FOUND",
    )


@pytest.mark.parametrize("path", ["me", "doctor"])
def test_anonymous_cannot_touch_verification_documents(
    path, api_client, pending_profile, licence, pdf_upload
):
    base = MINE if path == "me" else url(pending_profile.user_id, "verification-documents")
    error_of(api_client.get(base), 401, "AUTHENTICATION_FAILED")
    error_of(api_client.get(f"{base}{licence.pk}/download/"), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("role", ["patient", "admin_user"])
def test_only_doctors_upload_to_me(role, as_role, pdf_upload):
    _, client = as_role(role)
    error_of(client.post(MINE, {"file": pdf_upload()}, format="multipart"), 403, "PERMISSION_DENIED")


def test_document_list_runs_a_constant_number_of_queries(
    client_for, admin_user, pending_profile, pdf_upload, django_assert_max_num_queries
):
    owner = client_for(pending_profile.user)
    for n in range(6):
        owner.post(MINE, {"file": pdf_upload(f"doc{n}.pdf")}, format="multipart")
    client = client_for(admin_user)
    # auth user, access check, audit insert, count, page
    with django_assert_max_num_queries(6):
        data = success_data(client.get(url(pending_profile.user_id, "verification-documents")))
    assert data["count"] == 6
