"""Prescriptions API: the medication catalogue, drafting and issuing, the PDF, the public verify
endpoint, a patient's running medicines and dose schedule, and statistics."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from clinical.models import Consultation, Medication, Prescription
from clinical.prescriptions import interactions, selectors, services
from clinical.prescriptions.filters import MedicationFilter, PrescriptionFilter
from clinical.prescriptions.pdf import render_prescription_pdf
from clinical.prescriptions.serializers import (
    PDF_RESPONSE,
    CatalogueMedicationSerializer,
    CheckResultSerializer,
    IssueSerializer,
    MyMedicationSerializer,
    PrescriptionCreateSerializer,
    PrescriptionSerializer,
    PrescriptionUpdateSerializer,
    ReminderQuerySerializer,
    ReminderScheduleSerializer,
    StatsQuerySerializer,
    StatsSerializer,
    VerificationSerializer,
)
from telehealth.api.error_codes import CONFLICT, NOT_FOUND
from telehealth.api.errors import ServiceError
from telehealth.api.mixins import EnvelopeDestroyModelMixin
from telehealth.api.permissions import IsAdmin, IsDoctor, IsPatient
from telehealth.api.renderers import EnvelopeJSONRenderer
from telehealth.api.responses import ok
from telehealth.api.throttling import PublicLookupRateThrottle
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access, audit_phi_reads

RESOURCE = "prescription"
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# Actions that change a prescription: its doctor only.
WRITE_ACTIONS = frozenset({"update", "partial_update", "destroy", "check", "issue", "revise"})

_LOCKED = OpenApiResponse(description="`PRESCRIPTION_LOCKED`: the prescription is issued and cannot change.")
_ISSUE_CONFLICT = OpenApiResponse(
    description="`INTERACTION_BLOCKED` (details: findings, override_reason_min_length) when the check finds "
    "something severe and no override_reason was given; `PRESCRIPTION_LOCKED` when already issued."
)
_REVISE_CONFLICT = OpenApiResponse(
    description="`CONFLICT`: the prescription is a draft, already superseded, or has a correction in "
    "progress (details: correction)."
)


class _PDFRenderer(BaseRenderer):
    """Lets ``Accept: application/pdf`` through content negotiation. The PDF itself is returned as a
    plain HttpResponse; errors still leave as the JSON envelope."""

    media_type = "application/pdf"
    format = "pdf"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return EnvelopeJSONRenderer().render(data, "application/json", renderer_context)


@extend_schema_view(
    list=extend_schema(summary="Search the medication catalogue (?search= generic, brand or class)"),
    retrieve=extend_schema(summary="One catalogue medication"),
)
@extend_schema(tags=["prescriptions"])
class MedicationViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Medication.objects.all()
    serializer_class = CatalogueMedicationSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = MedicationFilter
    search_fields = ["generic_name", "brand_name", "drug_class"]
    ordering_fields = ["generic_name", "brand_name", "strength"]
    ordering = ["generic_name", "strength", "id"]


@extend_schema_view(
    list=extend_schema(
        summary="Prescriptions you may see: a patient their own issued ones, a doctor those they wrote, "
        "staff all"
    ),
    retrieve=extend_schema(summary="One prescription"),
    destroy=extend_schema(
        summary="Delete a draft (its doctor)", responses={200: OpenApiResponse(None), 409: _LOCKED}
    ),
)
@extend_schema(tags=["prescriptions"])
class PrescriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    EnvelopeDestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PrescriptionSerializer
    filterset_class = PrescriptionFilter
    search_fields = ["notes", "items__medication__generic_name", "items__medication__brand_name"]
    ordering_fields = ["created_at", "issued_at", "version"]
    ordering = ["-created_at", "id"]
    lookup_value_regex = UUID_PATTERN

    def get_permissions(self):
        if self.action == "create" or self.action in WRITE_ACTIONS:
            return [IsDoctor()]
        if self.action in {"my_medications", "reminder_schedule"}:
            return [IsPatient()]
        if self.action == "stats":
            return [(IsDoctor | IsAdmin)()]
        return [IsAuthenticated()]

    def get_serializer_class(self):
        return {
            "create": PrescriptionCreateSerializer,
            "update": PrescriptionUpdateSerializer,
            "partial_update": PrescriptionUpdateSerializer,
            "issue": IssueSerializer,
            "check": CheckResultSerializer,
        }.get(self.action, PrescriptionSerializer)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Prescription.objects.none()
        return selectors.prescriptions_visible_to(self.request.user)

    def get_object(self) -> Prescription:
        """Any prescription by id, then the access rules, so refusals can be audited. Someone who may
        not see it gets a 404 that says nothing about it."""
        user = self.request.user
        prescription = selectors.prescription_queryset().filter(pk=self.kwargs["pk"]).first()
        if prescription is None:
            raise NotFound()
        if not selectors.can_view_prescription(user, prescription):
            self._audit(prescription, "denied")
            raise NotFound()
        if self.action in WRITE_ACTIONS and prescription.doctor_id != user.pk:
            self._audit(prescription, "denied")
            raise PermissionDenied("Only the prescribing doctor may change this prescription.")
        return prescription

    def _audit(self, prescription: Prescription, action: str) -> None:
        audit_phi_access(
            self.request,
            subject_id=prescription.patient_id,
            action=action,
            resource=RESOURCE,
            object_id=prescription.pk,
        )

    def _render(self, prescription: Prescription) -> dict:
        fresh = selectors.prescription_queryset().get(pk=prescription.pk)
        return PrescriptionSerializer(fresh).data

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        audit_phi_reads(request, [(p.patient_id, p.pk) for p in page], resource=RESOURCE)
        return self.get_paginated_response(PrescriptionSerializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        prescription = self.get_object()
        self._audit(prescription, AuditAction.READ)
        return ok(PrescriptionSerializer(prescription).data)

    @extend_schema(
        summary="Draft a prescription for a consultation you are the doctor of (in progress or completed)",
        request=PrescriptionCreateSerializer,
        responses={201: PrescriptionSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = PrescriptionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consultation = Consultation.objects.filter(pk=serializer.validated_data["consultation"]).first()
        if consultation is None or consultation.doctor_id != request.user.pk:
            # Someone else's consultation answers exactly like an unknown one, but is audited.
            if consultation is not None:
                audit_phi_access(
                    request,
                    subject_id=consultation.patient_id,
                    action=AuditAction.DENIED,
                    resource=RESOURCE,
                    object_id=consultation.pk,
                )
            raise NotFound("No such consultation among yours.")
        prescription = services.create_prescription(
            request.user,
            consultation,
            notes=serializer.validated_data["notes"],
            items=serializer.validated_data["items"],
        )
        self._audit(prescription, AuditAction.CREATE)
        return ok(self._render(prescription), message="Draft saved.", status=201)

    @extend_schema(
        summary="Replace a draft's notes and items (its doctor)",
        request=PrescriptionUpdateSerializer,
        responses={200: PrescriptionSerializer, 409: _LOCKED},
    )
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        prescription = self.get_object()
        serializer = PrescriptionUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        prescription = services.update_prescription(
            request.user,
            prescription,
            notes=serializer.validated_data.get("notes"),
            items=serializer.validated_data.get("items"),
        )
        self._audit(prescription, AuditAction.UPDATE)
        return ok(self._render(prescription), message="Draft updated.")

    @extend_schema(
        summary="Change a draft's notes and/or items (its doctor); items replace the whole list",
        request=PrescriptionUpdateSerializer,
        responses={200: PrescriptionSerializer, 409: _LOCKED},
    )
    def partial_update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def perform_destroy(self, instance: Prescription) -> None:
        services.delete_prescription(self.request.user, instance)
        self._audit(instance, AuditAction.DELETE)

    @extend_schema(
        summary="Run the interaction and allergy check without issuing (its doctor)",
        request=None,
        responses={200: CheckResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        prescription = self.get_object()
        findings = services.check_prescription(request.user, prescription)
        self._audit(prescription, AuditAction.READ)
        return ok(
            {
                "findings": findings,
                "blocking": interactions.is_blocking(findings),
                "disclaimer": interactions.table().disclaimer,
            }
        )

    @extend_schema(
        summary="Issue and lock a draft (its doctor); severe findings need an override_reason",
        request=IssueSerializer,
        responses={200: PrescriptionSerializer, 409: _ISSUE_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        prescription = self.get_object()
        serializer = IssueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prescription = services.issue_prescription(
            request.user, prescription, override_reason=serializer.validated_data["override_reason"]
        )
        self._audit(prescription, AuditAction.UPDATE)
        return ok(self._render(prescription), message="Prescription issued.")

    @extend_schema(
        summary="Start a correction: a new draft version linked to this issued prescription (its doctor)",
        request=None,
        responses={201: PrescriptionSerializer, 409: _REVISE_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        prescription = self.get_object()
        revision = services.revise_prescription(request.user, prescription)
        self._audit(revision, AuditAction.CREATE)
        return ok(self._render(revision), message="Correction drafted.", status=201)

    @extend_schema(
        summary="The issued prescription as a PDF (its patient, its doctor, staff)",
        responses={
            **PDF_RESPONSE,
            409: OpenApiResponse(description="`CONFLICT`: drafts have no PDF."),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[EnvelopeJSONRenderer, _PDFRenderer])
    def pdf(self, request, pk=None):
        prescription = self.get_object()
        if prescription.verification_code is None:
            raise ServiceError(CONFLICT, "Only issued prescriptions have a PDF.", status=409)
        verify_url = request.build_absolute_uri(
            reverse("prescriptions-verify", args=[selectors.format_code(prescription.verification_code)])
        )
        content = render_prescription_pdf(prescription, verify_url=verify_url)
        self._audit(prescription, AuditAction.DOWNLOAD)
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="prescription-{prescription.pk}.pdf"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        summary="Your running medicines: items of issued prescriptions whose course has not ended (patient)",
        responses=MyMedicationSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="my-medications", filter_backends=[])
    def my_medications(self, request):
        rows = [
            {"item": item, "course": course}
            for item, course in selectors.active_items(request.user, timezone.now())
        ]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MyMedicationSerializer(page, many=True).data)

    @extend_schema(
        summary="Your dose times for the next days, in UTC with your local time (patient)",
        parameters=[ReminderQuerySerializer],
        responses={200: ReminderScheduleSerializer},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="reminder-schedule",
        filter_backends=[],
        pagination_class=None,
    )
    def reminder_schedule(self, request):
        query = ReminderQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        schedule = selectors.reminder_schedule(
            request.user, days=query.validated_data["days"], now=timezone.now()
        )
        return ok(ReminderScheduleSerializer(schedule).data)

    @extend_schema(
        summary="Counts of current prescriptions by doctor and by medicine (staff; a doctor sees their own)",
        parameters=[StatsQuerySerializer],
        responses={200: StatsSerializer},
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def stats(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        stats = selectors.prescription_stats(
            request.user,
            issued_after=data.get("issued_after"),
            issued_before=data.get("issued_before"),
            doctor_id=data.get("doctor"),
            limit=data["limit"],
        )
        return ok(StatsSerializer(stats).data)


@extend_schema(
    tags=["prescriptions"],
    summary="Public: check a prescription's verification code (pharmacies)",
    description=(
        "Answers `valid` or `superseded` with the minimum a pharmacy needs to match the paper: issue "
        "date, the doctor's name and registration, the patient's initials, and (when valid) the medicines "
        "and quantities. Unknown codes are 404. Rate-limited per IP like the login endpoints."
    ),
    parameters=[
        OpenApiParameter(
            "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="As printed: XXXXX-XXXXX"
        )
    ],
    responses={200: VerificationSerializer},
)
class VerifyPrescriptionView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [PublicLookupRateThrottle]

    def get(self, request, code: str):
        prescription = selectors.find_by_code(code)
        if prescription is None:
            raise ServiceError(NOT_FOUND, "No issued prescription has this code.", status=404)
        audit_phi_access(
            request,
            subject_id=prescription.patient_id,
            action=AuditAction.READ,
            resource="prescription_verification",
            object_id=prescription.pk,
        )
        return ok(VerificationSerializer(VerificationSerializer.build(prescription)).data)
