"""Storing and serving uploaded documents. The type is sniffed from the bytes (never the name or
the client's Content-Type), checked against an allow-list, and the file lands in private storage
outside the web root; it is only ever served through an authorised view."""

from __future__ import annotations

import hashlib

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse

from clinical import error_codes
from clinical.models import Document
from telehealth.accounts.models import User
from telehealth.api.errors import ServiceError

ALLOWED_TYPES = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "application/dicom": "dcm",
}


def sniff_content_type(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind else None


def store_document(
    *, owner: User, uploaded_by: User, upload: UploadedFile, kind: str, consultation=None
) -> Document:
    """Validate and store an upload. Raises ``ServiceError`` (415/413) for a refused file."""
    if upload.size > settings.DOCUMENT_MAX_BYTES:
        raise ServiceError(
            error_codes.FILE_TOO_LARGE,
            f"Files are limited to {settings.DOCUMENT_MAX_BYTES // (1024 * 1024)} MB.",
            status=413,
            details={"max_bytes": settings.DOCUMENT_MAX_BYTES},
        )
    upload.seek(0)
    head = upload.read(8192)
    content_type = sniff_content_type(head)
    if content_type not in ALLOWED_TYPES:
        raise ServiceError(
            error_codes.UNSUPPORTED_FILE_TYPE,
            "Only PDF, PNG, JPEG and DICOM files are accepted.",
            status=415,
            details={"detected": content_type, "allowed": sorted(ALLOWED_TYPES)},
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    document = Document(
        owner=owner,
        uploaded_by=uploaded_by,
        kind=kind,
        consultation=consultation,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
        original_name=(upload.name or "")[:255],
    )
    document.file.save(f"{document.id.hex}.{ALLOWED_TYPES[content_type]}", upload, save=False)
    document.save()
    return document


def document_response(document: Document) -> FileResponse:
    """Stream a document to an already-authorised caller, never as an inline HTML-able page."""
    extension = ALLOWED_TYPES.get(document.content_type, "bin")
    response = FileResponse(
        document.file.open("rb"),
        content_type=document.content_type,
        as_attachment=True,
        filename=f"document-{document.id}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
