"""Consultations at /api/consultations/: booking, the lifecycle, the clinical record, notes,
vitals and the patient timeline.

Who sees a consultation (``clinical.access.consultations_visible_to``): its patient, its doctor and
staff. To anyone else it does not exist (404, audited as ``denied``). What each of them may change
is in ``clinical.consultations.services``.

Doctors' notes are the care team's working notes: the consultation's doctor and staff read and
write them; patients do not see them (their record is the diagnosis, treatment plan and follow-up
on the consultation itself, and their prescriptions).

Audit: every read or change of another person's consultation writes one audit entry (lists: one
per consultation on the page, in a single INSERT); every refusal one ``denied`` entry.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, viewsets
from rest_framework.fields import UUIDField
from rest_framework.permissions import IsAuthenticated

from clinical.access import can_view_patient
from clinical.consultations import filters, selectors, services
from clinical.consultations import serializers as s
from clinical.models import Consultation, ConsultationNote, VitalSign
from telehealth.accounts.models import Role, User
from telehealth.api.errors import ServiceError
from telehealth.api.permissions import IsAdmin, IsPatient
from telehealth.api.responses import ok
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access, audit_phi_reads

TAG = "consultations"
RESOURCE = "consultation"

_CONFLICT = OpenApiResponse(
    description="`INVALID_TRANSITION` (details: current_state, requested, allowed), `POLICY_VIOLATION` "
    "or `SLOT_TAKEN`."
)


def _is_denial(exc: Exception) -> bool:
    return isinstance(exc, exceptions.PermissionDenied) or (
        isinstance(exc, ServiceError) and exc.status == 403
    )


class _ConsultationScoped:
    """Finds the consultation of the URL among those the caller may see, audits every access to it
    and every refusal."""

    resource = RESOURCE
    consultation: Consultation | None = None

    def audit(self, action: str) -> None:
        audit_phi_access(
            self.request,
            subject_id=self.consultation.patient_id,
            action=action,
            resource=self.resource,
            object_id=self.consultation.pk,
        )

    def resolve_consultation(self) -> Consultation:
        pk = self.kwargs["pk"]
        consultation = selectors.consultation_detail(self.request.user, pk)
        if consultation is None:
            owner = selectors.patient_of(pk)
            audit_phi_access(
                self.request,
                subject_id=owner.pk if owner else None,
                action=AuditAction.DENIED,
                resource=self.resource,
                object_id=pk,
            )
            raise exceptions.NotFound("No such consultation.")
        self.consultation = consultation
        return consultation

    def handle_exception(self, exc: Exception):
        if self.consultation is not None and _is_denial(exc):
            self.audit(AuditAction.DENIED)
        return super().handle_exception(exc)


# --- Consultations ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List consultations you take part in (staff: all)",
        description=(
            "Patients see their own, doctors theirs, staff everyone's. `search` matches the chief "
            "complaint and the names of patient and doctor. Writes one audit entry per consultation "
            "of someone else on the page."
        ),
    ),
    retrieve=extend_schema(
        summary="One consultation with its clinical record",
        description="Its patient, its doctor and staff. Audited when it is not your own.",
    ),
)
@extend_schema(tags=[TAG])
class ConsultationViewSet(
    _ConsultationScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsAuthenticated]
    filterset_class = filters.ConsultationFilter
    search_fields = [
        "chief_complaint",
        "patient__first_name",
        "patient__last_name",
        "doctor__first_name",
        "doctor__last_name",
    ]
    ordering_fields = ["scheduled_start", "created_at", "state", "type"]
    ordering = ["-scheduled_start", "id"]

    def get_permissions(self):
        if self.action == "create":
            return [(IsPatient | IsAdmin)()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Consultation.objects.none()
        return selectors.consultation_list(self.request.user)

    def get_object(self) -> Consultation:
        return self.resolve_consultation()

    def get_serializer_class(self):
        return {
            "list": s.ConsultationSerializer,
            "create": s.BookingSerializer,
            "partial_update": s.ClinicalDetailsSerializer,
            "cancel": s.CancelSerializer,
            "reschedule": s.RescheduleSerializer,
            "transition": s.TransitionSerializer,
        }.get(self.action, s.ConsultationDetailSerializer)

    def _detail(self, consultation: Consultation, *, message: str | None = None, status: int = 200):
        fresh = selectors.consultation_detail(self.request.user, consultation.pk)
        return ok(s.ConsultationDetailSerializer(fresh).data, message=message, status=status)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        audit_phi_reads(request, [(c.patient_id, c.pk) for c in page], resource=RESOURCE)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        consultation = self.get_object()
        self.audit(AuditAction.READ)
        return ok(s.ConsultationDetailSerializer(consultation).data)

    @extend_schema(
        summary="Book a slot (patients for themselves, staff for a patient)",
        description=(
            "`scheduled_start` must be exactly one of the doctor's free future slots. The fee is "
            "frozen at booking. A slot is never double-booked: when two bookings race, one gets it "
            "and the other `409 SLOT_TAKEN`. Other refusals: `DOCTOR_NOT_BOOKABLE`, "
            "`SLOT_UNAVAILABLE`, `CLINIC_NOT_VERIFIED` (400)."
        ),
        responses={201: s.ConsultationDetailSerializer, 409: _CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        consultation = services.book_consultation(
            request.user,
            doctor_id=data["doctor"],
            scheduled_start=data["scheduled_start"],
            consultation_type=data["type"],
            patient_id=data.get("patient"),
            clinic_id=data.get("clinic"),
            chief_complaint=data["chief_complaint"],
            symptoms=data["symptoms"],
        )
        self.consultation = consultation
        self.audit(AuditAction.CREATE)
        return self._detail(consultation, message="Consultation booked.", status=201)

    @extend_schema(
        summary="Record the clinical side (the doctor; the patient: complaint and symptoms)",
        description=(
            "The consultation's doctor sets any field unless the consultation was cancelled, "
            "rescheduled or a no-show. Its patient may change `chief_complaint` and `symptoms` until "
            "it starts. Staff may not."
        ),
        request=s.ClinicalDetailsSerializer,
        responses={200: s.ConsultationDetailSerializer, 409: _CONFLICT},
    )
    def partial_update(self, request, *args, **kwargs):
        consultation = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.update_clinical_details(request.user, consultation, **serializer.validated_data)
        self.audit(AuditAction.UPDATE)
        return self._detail(consultation, message="Consultation updated.")

    @extend_schema(
        summary="Cancel a booking",
        description=(
            "Its patient or doctor up to `BOOKING_CHANGE_CUTOFF_HOURS` before the start "
            "(else `409 POLICY_VIOLATION`), staff any time; only while scheduled or waiting, or "
            "awaiting payment (then any time). A paid booking is refunded by the payments rules."
        ),
        request=s.CancelSerializer,
        responses={200: s.ConsultationDetailSerializer, 409: _CONFLICT},
    )
    def cancel(self, request, *args, **kwargs):
        consultation = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.cancel_consultation(request.user, consultation, **serializer.validated_data)
        self.audit(AuditAction.UPDATE)
        return self._detail(consultation, message="Consultation cancelled.")

    @extend_schema(
        summary="Move a booking to another free slot of the same doctor",
        description=(
            "Same policy as cancelling. The booking becomes `rescheduled` and a new one (returned, "
            "with `rescheduled_from`) holds the new slot; if that slot is taken, nothing changes."
        ),
        request=s.RescheduleSerializer,
        responses={201: s.ConsultationDetailSerializer, 409: _CONFLICT},
    )
    def reschedule(self, request, *args, **kwargs):
        consultation = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        replacement = services.reschedule_consultation(
            request.user, consultation, **serializer.validated_data
        )
        self.audit(AuditAction.UPDATE)
        return self._detail(replacement, message="Consultation rescheduled.", status=201)

    @extend_schema(
        summary="Move the consultation along its lifecycle",
        description=(
            "scheduled → waiting → in_progress → completed, and no_show (with `no_show_party`). "
            "Illegal moves answer "
            "`409 INVALID_TRANSITION` with the current state and the allowed ones; moves your role "
            "may not make, 403; moves at the wrong time, `409 POLICY_VIOLATION`."
        ),
        request=s.TransitionSerializer,
        responses={200: s.ConsultationDetailSerializer, 409: _CONFLICT},
    )
    def transition(self, request, *args, **kwargs):
        consultation = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_consultation_state(
            request.user,
            consultation,
            serializer.validated_data["state"],
            no_show_party=serializer.validated_data.get("no_show_party"),
        )
        self.audit(AuditAction.UPDATE)
        return self._detail(consultation, message=f"Consultation {serializer.validated_data['state']}.")


# --- Notes and vitals ------------------------------------------------------------------------------


class _NestedList(_ConsultationScoped, generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.resolve_consultation()

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit(AuditAction.READ)
        return response


@extend_schema_view(
    get=extend_schema(
        summary="The doctors' private notes on a consultation",
        description="Its doctor and staff. Patients do not see doctors' notes (403).",
    ),
    post=extend_schema(
        summary="Add a note (its doctor or staff)",
        description="Notes are never edited: a correction is a new note.",
        responses={201: s.NoteSerializer},
    ),
)
@extend_schema(tags=[TAG])
class ConsultationNotesView(_NestedList):
    resource = "consultation_note"
    serializer_class = s.NoteSerializer
    filterset_fields = ["author"]
    search_fields = ["text"]
    ordering_fields = ["created_at"]
    ordering = ["created_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ConsultationNote.objects.none()
        if services.role_in(self.request.user, self.consultation) not in {"doctor", "staff"}:
            raise exceptions.PermissionDenied("Doctors' notes are for the care team only.")
        return selectors.notes_of(self.consultation)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.add_note(request.user, self.consultation, **serializer.validated_data)
        self.audit(AuditAction.CREATE)
        return ok(s.NoteSerializer(note).data, message="Note added.", status=201)


@extend_schema_view(
    get=extend_schema(
        summary="Vital signs recorded in a consultation",
        description=(
            "Its patient, its doctor and staff. Each reading says its normal range and whether it is outside."
        ),
    ),
    post=extend_schema(
        summary="Record a vital sign (its patient during the visit, its doctor during or after)",
        description=(
            "Units per kind: heart_rate bpm; spo2 %; blood_pressure mmHg (value systolic, value2 "
            "diastolic); temperature C or F; respiratory_rate breaths/min; glucose mg/dL or mmol/L; "
            "weight kg or lb. Physiologically impossible values are refused (400); abnormal ones are "
            "stored with `is_abnormal` and raise an alert in the consultation room."
        ),
        responses={201: s.VitalSignSerializer, 409: _CONFLICT},
    ),
)
@extend_schema(tags=[TAG])
class ConsultationVitalsView(_NestedList):
    resource = "vital_sign"
    serializer_class = s.VitalSignSerializer
    filterset_class = filters.VitalSignFilter
    search_fields = ["kind", "unit"]
    ordering_fields = ["measured_at", "recorded_at", "kind"]
    ordering = ["measured_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VitalSign.objects.none()
        return selectors.vitals_of(self.consultation)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vital = services.record_vital(request.user, self.consultation, **serializer.validated_data)
        self.audit(AuditAction.CREATE)
        return ok(s.VitalSignSerializer(vital).data, message="Reading recorded.", status=201)


# --- Timeline --------------------------------------------------------------------------------------


@extend_schema(
    tags=[TAG],
    summary="A patient's consultation history, oldest first",
    description=(
        "Each consultation with its diagnosis, the number of issued prescriptions, its vital signs "
        "and its state changes, in chronological order. A patient sees their own (`patient` may be "
        "left out); a doctor the consultations they had with the patient; staff all. Audited."
    ),
    parameters=[
        OpenApiParameter(
            "patient",
            OpenApiTypes.UUID,
            description="The patient's user id (patients: defaults to yourself).",
        )
    ],
)
class TimelineView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.TimelineEntrySerializer
    filterset_class = filters.TimelineFilter
    search_fields = ["chief_complaint", "diagnosis", "icd10_code"]
    ordering_fields = ["scheduled_start"]
    ordering = ["scheduled_start", "created_at"]
    resource = "consultation_timeline"

    def _patient(self) -> User:
        user = self.request.user
        raw = self.request.query_params.get("patient")
        if raw is None and user.role == Role.PATIENT:
            return user
        try:
            patient_id = UUIDField().to_internal_value(raw) if raw else None
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({"patient": error.detail}) from error
        if patient_id is None:
            raise exceptions.ValidationError({"patient": ["Say whose timeline: ?patient=<user id>."]})
        patient = User.objects.filter(pk=patient_id, role=Role.PATIENT).first()
        if patient is None or not can_view_patient(user, patient.pk):
            audit_phi_access(
                self.request,
                subject_id=patient.pk if patient else None,
                action=AuditAction.DENIED,
                resource=self.resource,
                object_id=patient_id,
            )
            raise exceptions.NotFound("No such patient.")
        return patient

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Consultation.objects.none()
        return selectors.timeline(self.request.user, self.patient.pk)

    def list(self, request, *args: Any, **kwargs: Any):
        self.patient = self._patient()
        response = super().list(request, *args, **kwargs)
        audit_phi_access(request, subject_id=self.patient.pk, action=AuditAction.READ, resource=self.resource)
        return response
