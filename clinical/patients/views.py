"""Patients' health data at /api/patients/.

Who sees what (``clinical.access``): a patient only themselves, a doctor the patients they have a
consultation with, staff everyone. Who writes what: ``clinical.patients.services``. A patient the
caller may not see answers 404 (never 403: that would confirm the patient exists).

Audit: every request that reads or changes another person's health data writes one audit entry,
and every refused attempt (404 for a hidden patient, 403 for a refused write) one ``denied``
entry. The patient list writes one ``read`` entry per patient on the page, in a single INSERT.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated

from clinical.access import can_view_patient
from clinical.documents import ALLOWED_TYPES, document_response
from clinical.models import Document, DocumentKind
from clinical.patients import filters, selectors, services
from clinical.patients import serializers as s
from telehealth.accounts.models import User
from telehealth.api.errors import ServiceError
from telehealth.api.mixins import EnvelopeDestroyModelMixin
from telehealth.api.permissions import IsPatient
from telehealth.api.responses import ok
from telehealth.api.throttling import UploadRateThrottle
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access, audit_phi_reads

TAG = "patients"


def _is_denial(exc: Exception) -> bool:
    return isinstance(exc, exceptions.PermissionDenied) or (
        isinstance(exc, ServiceError) and exc.status == 403
    )


class _AuditedPatientView:
    """Resolves the patient of the URL, audits every access to them and every refusal."""

    resource: str
    patient: User | None = None
    patient_url_kwarg = "patient_id"

    def audit(self, action: str, object_id: object = "") -> None:
        audit_phi_access(
            self.request,
            subject_id=self.patient.pk,
            action=action,
            resource=self.resource,
            object_id=object_id,
        )

    def resolve_patient(self, patient_id) -> User:
        """The patient of the URL if the caller may see them; otherwise audit and answer 404."""
        patient = selectors.find_patient(patient_id)
        if patient is None or not can_view_patient(self.request.user, patient.pk):
            audit_phi_access(
                self.request,
                subject_id=patient.pk if patient else None,
                action=AuditAction.DENIED,
                resource=self.resource,
                object_id=self.kwargs.get("pk") or patient_id,
            )
            raise exceptions.NotFound("No such patient.")
        return patient

    def handle_exception(self, exc: Exception):
        if self.patient is not None and _is_denial(exc):
            self.audit(AuditAction.DENIED, self.kwargs.get("pk", ""))
        return super().handle_exception(exc)


# --- The patient list and profiles ----------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List and search patients",
        description=(
            "Doctors see the patients they have a consultation with, staff all patients, a patient "
            "only themselves. `search` matches first name, last name and phone. Writes one audit "
            "entry per other patient shown on the page."
        ),
    ),
    retrieve=extend_schema(summary="A patient's profile", description="Audited as a read."),
    partial_update=extend_schema(
        summary="Correct a patient's profile (the patient or staff)",
        request=s.PatientProfileSerializer,
        responses={200: s.PatientProfileSerializer},
    ),
)
@extend_schema(tags=[TAG])
class PatientViewSet(_AuditedPatientView, mixins.ListModelMixin, viewsets.GenericViewSet):
    resource = services.PATIENT_PROFILE
    permission_classes = [IsAuthenticated]
    filterset_class = filters.PatientFilter
    search_fields = ["first_name", "last_name", "phone"]
    ordering_fields = ["last_name", "first_name", "date_joined", "date_of_birth", "city", "last_consultation"]
    ordering = ["last_name", "first_name", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        return selectors.visible_patients(self.request.user)

    def get_serializer_class(self):
        return s.PatientListSerializer if self.action == "list" else s.PatientProfileSerializer

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        audit_phi_reads(request, [(p.pk, "") for p in page], resource=self.resource)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        self.patient = self.resolve_patient(kwargs["pk"])
        self.audit(AuditAction.READ, self.patient.pk)
        return ok(s.PatientProfileSerializer(selectors.profile_of(self.patient)).data)

    def partial_update(self, request, *args, **kwargs):
        self.patient = self.resolve_patient(kwargs["pk"])
        if not services.may_update_profile(request.user, self.patient):
            raise exceptions.PermissionDenied("Only the patient and staff may change a patient's profile.")
        serializer = s.PatientProfileSerializer(
            selectors.profile_of(self.patient), data=request.data, partial=True
        )
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            profile = services.update_patient_profile(request.user, self.patient, **serializer.validated_data)
            self.audit(AuditAction.UPDATE, self.patient.pk)
        return ok(s.PatientProfileSerializer(profile).data, message="Profile updated.")


@extend_schema_view(
    get=extend_schema(summary="Your patient profile (created empty on first access)"),
    put=extend_schema(summary="Replace your patient profile"),
    patch=extend_schema(summary="Change some fields of your patient profile"),
)
@extend_schema(tags=[TAG])
class MyProfileView(GenericAPIView):
    """The calling patient's own profile. Only patients have one."""

    serializer_class = s.PatientProfileSerializer
    permission_classes = [IsPatient]

    def get_object(self):
        # Used by OPTIONS (DRF's metadata) as well as by the handlers below.
        return services.ensure_patient_profile(self.request.user)

    def get(self, request):
        return ok(s.PatientProfileSerializer(self.get_object()).data)

    def put(self, request):
        return self._update(request, partial=False)

    def patch(self, request):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool):
        profile = selectors.profile_of(request.user)
        serializer = s.PatientProfileSerializer(profile, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        profile = services.update_patient_profile(request.user, request.user, **serializer.validated_data)
        return ok(s.PatientProfileSerializer(profile).data, message="Profile updated.")


# --- Collections under /api/patients/<patient id>/ ------------------------------------------------


class _PatientCollectionViewSet(_AuditedPatientView, viewsets.GenericViewSet):
    """Base of every collection of one patient's chart."""

    permission_classes = [IsAuthenticated]
    model: type

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.patient = self.resolve_patient(kwargs[self.patient_url_kwarg])
        if not services.role_may_read(request.user, self.resource):
            raise exceptions.PermissionDenied("Doctors' notes are private to the care team.")

    def get_queryset(self):
        if self.patient is None:  # schema generation
            return self.model.objects.none()
        return self.model.objects.filter(patient=self.patient)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "patient": self.patient}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        self.audit(AuditAction.READ)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        item = self.get_object()
        self.audit(AuditAction.READ, item.pk)
        return ok(self.get_serializer(item).data)


class _ChartItemViewSet(
    _PatientCollectionViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    EnvelopeDestroyModelMixin,
):
    """CRUD over one kind of chart item; the rules are ``services.may_write``."""

    ordering = ["-created_at", "-id"]
    ordering_fields = ["created_at"]

    def create(self, request, *args, **kwargs):
        services.check_may_write(request.user, self.patient, self.resource, services.CREATE)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            item = services.create_patient_item(
                request.user, self.patient, self.resource, **serializer.validated_data
            )
            self.audit(AuditAction.CREATE, item.pk)
        return ok(self.get_serializer(item).data, message="Added.", status=201)

    def update(self, request, *args, **kwargs):
        item = self.get_object()
        services.check_may_write(request.user, self.patient, self.resource, services.UPDATE, item)
        serializer = self.get_serializer(item, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            item = services.update_patient_item(
                request.user, item, self.resource, **serializer.validated_data
            )
            self.audit(AuditAction.UPDATE, item.pk)
        return ok(self.get_serializer(item).data, message="Updated.")

    def perform_destroy(self, item) -> None:
        with transaction.atomic():
            pk = item.pk
            services.delete_patient_item(self.request.user, item, self.resource)
            self.audit(AuditAction.DELETE, pk)


def _chart_schema(noun: str, plural: str, who_writes: str):
    """Summaries for one collection; ``who_writes`` documents the write rule."""
    return extend_schema_view(
        list=extend_schema(summary=f"List the patient's {plural}", description="Audited as one read."),
        retrieve=extend_schema(summary=f"One {noun}"),
        create=extend_schema(summary=f"Add a {noun}", description=who_writes),
        update=extend_schema(summary=f"Replace a {noun}", description=who_writes),
        partial_update=extend_schema(summary=f"Change a {noun}", description=who_writes),
        destroy=extend_schema(summary=f"Delete a {noun}", description=who_writes),
    )


_PATIENT_ONLY = "Written by the patient only; their doctors and staff read."
_SHARED = (
    "The patient adds, changes and deletes; a treating doctor adds and changes (the shared problem "
    "list); staff read."
)


@_chart_schema("condition", "conditions", _SHARED)
@extend_schema(tags=[TAG])
class ConditionViewSet(_ChartItemViewSet):
    resource = services.CONDITION
    model = services.MODELS[services.CONDITION]
    serializer_class = s.ConditionSerializer
    filterset_class = filters.ConditionFilter
    search_fields = ["name", "icd10_code"]
    ordering_fields = ["created_at", "name", "since"]


@_chart_schema("allergy", "allergies", _SHARED)
@extend_schema(tags=[TAG])
class AllergyViewSet(_ChartItemViewSet):
    resource = services.ALLERGY
    model = services.MODELS[services.ALLERGY]
    serializer_class = s.AllergySerializer
    filterset_class = filters.AllergyFilter
    search_fields = ["substance", "reaction"]
    ordering_fields = ["created_at", "substance", "severity"]


@_chart_schema("past surgery", "past surgeries", _PATIENT_ONLY)
@extend_schema(tags=[TAG])
class SurgeryViewSet(_ChartItemViewSet):
    resource = services.SURGERY
    model = services.MODELS[services.SURGERY]
    serializer_class = s.SurgerySerializer
    filterset_class = filters.SurgeryFilter
    search_fields = ["procedure"]
    ordering_fields = ["created_at", "performed_on"]


@_chart_schema("family history entry", "family history", _PATIENT_ONLY)
@extend_schema(tags=[TAG])
class FamilyHistoryViewSet(_ChartItemViewSet):
    resource = services.FAMILY_HISTORY
    model = services.MODELS[services.FAMILY_HISTORY]
    serializer_class = s.FamilyHistorySerializer
    filterset_class = filters.FamilyHistoryFilter
    search_fields = ["relation", "condition"]


@_chart_schema("current medication", "current medications", _PATIENT_ONLY)
@extend_schema(tags=[TAG])
class MedicationViewSet(_ChartItemViewSet):
    resource = services.MEDICATION
    model = services.MODELS[services.MEDICATION]
    serializer_class = s.MedicationSerializer
    filterset_class = filters.MedicationFilter
    search_fields = ["name"]
    ordering_fields = ["created_at", "name", "started_on"]


@_chart_schema("insurance policy", "insurance policies", _PATIENT_ONLY)
@extend_schema(tags=[TAG])
class InsuranceViewSet(_ChartItemViewSet):
    resource = services.INSURANCE
    model = services.MODELS[services.INSURANCE]
    serializer_class = s.InsuranceSerializer
    filterset_class = filters.InsuranceFilter
    search_fields = ["provider", "policy_number"]
    ordering_fields = ["created_at", "valid_until"]


@_chart_schema("emergency contact", "emergency contacts", _PATIENT_ONLY)
@extend_schema(tags=[TAG])
class EmergencyContactViewSet(_ChartItemViewSet):
    resource = services.EMERGENCY_CONTACT
    model = services.MODELS[services.EMERGENCY_CONTACT]
    serializer_class = s.EmergencyContactSerializer
    filterset_class = filters.EmergencyContactFilter
    search_fields = ["name", "relation"]


@_chart_schema(
    "medical record",
    "medical records",
    "The patient and treating doctors add records; only a record's author changes or deletes it; staff read.",
)
@extend_schema(tags=[TAG])
class MedicalRecordViewSet(_ChartItemViewSet):
    resource = services.MEDICAL_RECORD
    model = services.MODELS[services.MEDICAL_RECORD]
    serializer_class = s.MedicalRecordSerializer
    filterset_class = filters.MedicalRecordFilter
    search_fields = ["title", "description", "author_name"]
    ordering_fields = ["record_date", "created_at", "record_type"]
    ordering = ["-record_date", "-created_at"]

    def get_queryset(self):
        return super().get_queryset().select_related("authored_by")


@_chart_schema(
    "note",
    "doctors' notes",
    "Care team only: treating doctors add notes and change or delete their own; staff read. "
    "The patient can neither read nor write them (403).",
)
@extend_schema(tags=[TAG])
class PatientNoteViewSet(_ChartItemViewSet):
    resource = services.PATIENT_NOTE
    model = services.MODELS[services.PATIENT_NOTE]
    serializer_class = s.PatientNoteSerializer
    filterset_class = filters.PatientNoteFilter
    search_fields = ["text"]
    ordering_fields = ["created_at", "updated_at"]

    def get_queryset(self):
        return super().get_queryset().select_related("author")


# --- Documents ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List the patient's documents", description="Audited as one read."),
    retrieve=extend_schema(summary="One document's metadata"),
    create=extend_schema(
        summary="Upload a document (multipart)",
        description=(
            "The patient and treating doctors upload. The type is sniffed from the bytes (PDF, PNG, "
            "JPEG, DICOM; anything else is 415 `UNSUPPORTED_FILE_TYPE`), the size is limited "
            "(413 `FILE_TOO_LARGE`), and the file is stored privately: it has no public URL."
        ),
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={
            201: s.DocumentSerializer,
            413: OpenApiResponse(description="`FILE_TOO_LARGE`"),
            415: OpenApiResponse(description="`UNSUPPORTED_FILE_TYPE`"),
        },
    ),
    destroy=extend_schema(summary="Delete a document (its uploader only)"),
)
@extend_schema(tags=[TAG])
class DocumentViewSet(
    _PatientCollectionViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    EnvelopeDestroyModelMixin,
):
    resource = services.DOCUMENT
    model = Document
    serializer_class = s.DocumentSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_class = filters.DocumentFilter
    search_fields = ["original_name"]
    ordering_fields = ["created_at", "size"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if self.patient is None:
            return Document.objects.none()
        return Document.objects.filter(owner=self.patient, kind=DocumentKind.MEDICAL)

    def get_serializer_class(self):
        return s.DocumentUploadSerializer if self.action == "create" else s.DocumentSerializer

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "create":
            throttles.append(UploadRateThrottle())
        return throttles

    def perform_content_negotiation(self, request, force=False):
        # A download is a file, whatever the client's Accept header says; errors stay JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    def create(self, request, *args, **kwargs):
        services.check_may_write(request.user, self.patient, self.resource, services.CREATE)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            document = services.upload_patient_document(
                request.user,
                self.patient,
                serializer.validated_data["file"],
                consultation=serializer.validated_data.get("consultation"),
            )
            self.audit(AuditAction.CREATE, document.pk)
        return ok(s.DocumentSerializer(document).data, message="Document stored.", status=201)

    def perform_destroy(self, document) -> None:
        with transaction.atomic():
            pk = document.pk
            services.delete_patient_document(self.request.user, document)
            self.audit(AuditAction.DELETE, pk)

    @extend_schema(
        summary="Download a document",
        description=(
            "Streams the file as an attachment with its sniffed content type, after the same "
            "checks as every read. Audited as a download; a refused download answers 404 and is "
            "audited as denied."
        ),
        responses={(200, content_type): OpenApiTypes.BINARY for content_type in ALLOWED_TYPES},
    )
    def download(self, request, *args, **kwargs):
        document = self.get_object()
        self.audit(AuditAction.DOWNLOAD, document.pk)
        return document_response(document)
