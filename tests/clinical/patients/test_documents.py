"""Document upload and download: the type comes from the bytes, files live in private storage and
leave only through the authorised download endpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clinical.models import Document, MedicalRecord
from telehealth.audit.models import AuditEntry
from tests.clinical.patients.conftest import ROLES, image_bytes, upload, url

pytestmark = pytest.mark.django_db


def _upload(client, patient, name, content, content_type="application/octet-stream", **extra):
    return client.post(
        url(patient, "documents"), {"file": upload(name, content, content_type), **extra}, format="multipart"
    )


@pytest.fixture
def stored(client_for, patient, pdf) -> Document:
    response = _upload(client_for(patient), patient, "results.pdf", pdf, "application/pdf")
    assert response.status_code == 201, response.content
    return Document.objects.get(pk=response.json()["data"]["id"])


# --- Upload -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fixture", "sniffed"),
    [
        ("scan.pdf", "pdf", "application/pdf"),
        ("x.png", "png", "image/png"),
        ("photo.jpg", "jpeg", "image/jpeg"),
    ],
)
def test_patient_uploads_a_real_file_and_its_sniffed_type_is_stored(
    client_for, patient, request, private_media, name, fixture, sniffed
):
    content = request.getfixturevalue(fixture)

    response = _upload(client_for(patient), patient, name, content, "application/octet-stream")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert (data["content_type"], data["size"], data["original_name"]) == (sniffed, len(content), name)
    assert data["sha256"] == hashlib.sha256(content).hexdigest()
    assert data["download_url"] == url(patient, "documents", data["id"], "download")
    document = Document.objects.get(pk=data["id"])
    assert (document.owner, document.uploaded_by, document.kind) == (patient, patient, "medical")
    path = Path(document.file.path)
    assert path.read_bytes() == content
    assert path.is_relative_to(private_media / "private")
    assert name not in path.name  # the stored name is random


def test_png_renamed_pdf_is_stored_as_png(client_for, patient, png):
    response = _upload(client_for(patient), patient, "report.pdf", png, "application/pdf")

    assert response.status_code == 201
    assert response.json()["data"]["content_type"] == "image/png"
    assert Document.objects.get().original_name == "report.pdf"  # kept as data only


@pytest.mark.parametrize(
    ("name", "content", "claimed"),
    [
        ("report.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "application/pdf"),
        ("page.html", b"<html><body>hi</body></html>", "text/html"),
        ("scan.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64, "image/png"),
        (
            "setup.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64,
            "application/x-msdownload",
        ),
        ("labs.jpg", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40, "image/jpeg"),
        ("notes.txt", b"just some text", "text/plain"),
    ],
)
def test_disallowed_files_are_refused_whatever_their_name(
    client_for, patient, private_media, name, content, claimed
):
    response = _upload(client_for(patient), patient, name, content, claimed)

    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "UNSUPPORTED_FILE_TYPE"
    assert not Document.objects.exists()
    assert not any(p.is_file() for p in private_media.rglob("*"))


def test_too_large_file_is_refused(client_for, patient, settings, private_media):
    settings.DOCUMENT_MAX_BYTES = 2048
    big = image_bytes("PNG", size=(40, 40), noise=True)
    assert len(big) > 2048

    response = _upload(client_for(patient), patient, "big.png", big, "image/png")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert response.json()["error"]["details"]["max_bytes"] == 2048
    assert not Document.objects.exists()


def test_upload_needs_a_file(client_for, patient):
    response = client_for(patient).post(url(patient, "documents"), {}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["error"]["details"]


def test_treating_doctor_uploads_to_the_patients_chart(client_for, doctor, patient, consultation, pdf):
    response = _upload(client_for(doctor), patient, "ecg.pdf", pdf, consultation=str(consultation.pk))

    assert response.status_code == 201
    document = Document.objects.get()
    assert (document.owner, document.uploaded_by, document.consultation) == (patient, doctor, consultation)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.resource, entry.object_id) == ("create", "document", str(document.pk))


def test_upload_refuses_a_consultation_of_someone_else(client_for, patient, other_patient, pdf):
    from tests.factories import ConsultationFactory

    theirs = ConsultationFactory(patient=other_patient)

    response = _upload(client_for(patient), patient, "a.pdf", pdf, consultation=str(theirs.pk))

    assert response.status_code == 400
    assert "consultation" in response.json()["error"]["details"]


UPLOAD = {
    "patient": 201,
    "other_patient": 404,
    "doctor": 201,
    "other_doctor": 404,
    "admin_user": 403,
    "superadmin": 403,
    "anonymous": 401,
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_upload(as_role, patient, pdf, role):
    response = _upload(as_role(role), patient, "a.pdf", pdf)

    assert response.status_code == UPLOAD[role]
    assert Document.objects.count() == (1 if UPLOAD[role] == 201 else 0)


def test_uploads_are_throttled(client_for, patient, pdf, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "2/min"},
    }
    client = client_for(patient)

    statuses = [_upload(client, patient, f"{n}.pdf", pdf).status_code for n in range(3)]

    assert statuses == [201, 201, 429]
    assert client.get(url(patient, "documents")).status_code == 200  # reading is not an upload


# --- Reading and downloading --------------------------------------------------------------------------

READ = {
    "patient": 200,
    "other_patient": 404,
    "doctor": 200,
    "other_doctor": 404,
    "admin_user": 200,
    "superadmin": 200,
    "anonymous": 401,
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_list_and_download_documents(as_role, patient, consultation, stored, pdf, role):
    client = as_role(role)

    listing = client.get(url(patient, "documents"))
    metadata = client.get(url(patient, "documents", stored.pk))
    download = client.get(url(patient, "documents", stored.pk, "download"))

    assert (listing.status_code, metadata.status_code, download.status_code) == (READ[role],) * 3
    if READ[role] == 200:
        assert b"".join(download.streaming_content) == pdf
        assert download["Content-Type"] == "application/pdf"
        assert download["Content-Disposition"].startswith("attachment;")
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["Cache-Control"] == "private, no-store"
    else:
        assert pdf not in download.content
        assert download["Content-Type"].startswith("application/json")
        assert "results.pdf" not in listing.content.decode() + metadata.content.decode()


def test_download_is_audited(client_for, doctor, patient, consultation, stored):
    response = client_for(doctor).get(
        url(patient, "documents", stored.pk, "download"),
        HTTP_USER_AGENT="Viewer/3",
        REMOTE_ADDR="198.51.100.4",
    )
    b"".join(response.streaming_content)

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action, entry.resource) == (
        doctor,
        patient,
        "download",
        "document",
    )
    assert (entry.object_id, entry.ip, entry.user_agent) == (str(stored.pk), "198.51.100.4", "Viewer/3")


@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_unauthorised_download_is_not_found_and_audited_as_denied(as_role, cast, patient, stored, pdf, role):
    response = as_role(role).get(url(patient, "documents", stored.pk, "download"))

    assert response.status_code == 404
    assert pdf not in response.content
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action, entry.resource) == (
        cast[role],
        patient,
        "denied",
        "document",
    )
    assert entry.object_id == str(stored.pk)


def test_download_answers_a_client_that_only_accepts_pdf(client_for, patient, stored, pdf):
    response = client_for(patient).get(
        url(patient, "documents", stored.pk, "download"), HTTP_ACCEPT="application/pdf"
    )

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf


def test_document_of_another_patient_is_not_found_under_mine(client_for, patient, other_patient, pdf):
    other = _upload(client_for(other_patient), other_patient, "x.pdf", pdf).json()["data"]["id"]

    response = client_for(patient).get(url(patient, "documents", other, "download"))

    assert response.status_code == 404
    assert pdf not in response.content


def test_files_have_no_public_url(client_for, api_client, admin_user, patient, stored, settings):
    relative = stored.file.name

    for candidate in (
        f"/media/{relative}",
        f"/media/private/{relative}",
        f"/{relative}",
        f"/private/{relative}",
    ):
        for client in (api_client, client_for(admin_user)):
            response = client.get(candidate)
            assert response.status_code == 404, candidate
            assert stored.sha256 not in response.content.decode()
    body = client_for(patient).get(url(patient, "documents", stored.pk)).json()["data"]
    assert relative not in str(body)
    assert "download_url" in body
    assert "file" not in body
    assert Path(stored.file.path).is_relative_to(Path(settings.MEDIA_ROOT) / "private")


def test_documents_list_runs_a_constant_number_of_queries(
    client_for, django_assert_num_queries, doctor, patient, consultation, png
):
    client = client_for(doctor)
    _upload(client_for(patient), patient, "a.png", png)
    # Token user, patient, consultation check, count, page, audit insert.
    with django_assert_num_queries(6):
        client.get(url(patient, "documents"))
    for n in range(5):
        _upload(client_for(patient), patient, f"{n}.png", png)

    with django_assert_num_queries(6):
        response = client.get(url(patient, "documents"))
    assert response.json()["data"]["count"] == 6


def test_documents_are_filtered_by_type(client_for, patient, png, pdf):
    client = client_for(patient)
    _upload(client, patient, "a.png", png)
    _upload(client, patient, "b.pdf", pdf)

    rows = client.get(url(patient, "documents"), {"content_type": "image/png"}).json()["data"]["results"]

    assert [r["original_name"] for r in rows] == ["a.png"]


# --- Deleting ---------------------------------------------------------------------------------------


def test_uploader_deletes_a_document_and_its_file(
    client_for, patient, stored, django_capture_on_commit_callbacks
):
    path = Path(stored.file.path)
    record = MedicalRecord.objects.create(
        patient=patient, record_type="lab_report", title="CBC", record_date="2024-01-01", document=stored
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(patient).delete(url(patient, "documents", stored.pk))

    assert response.status_code == 200
    assert not Document.objects.exists()
    assert not path.exists()
    record.refresh_from_db()
    assert record.document is None


@pytest.mark.parametrize("role", ["doctor", "admin_user"])
def test_others_cannot_delete_a_patients_upload(as_role, cast, patient, consultation, stored, role):
    response = as_role(role).delete(url(patient, "documents", stored.pk))

    assert response.status_code == 403
    assert Path(stored.file.path).exists()
    assert AuditEntry.objects.get().action == "denied"
