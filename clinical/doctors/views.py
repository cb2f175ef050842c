"""/api/doctors/: the public directory, the doctor's own profile and schedule, verification by
admins, free slots, reviews and the performance summary. Views parse, check who is asking, call
one service or selector and render."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Model
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

from clinical.access import is_staff
from clinical.doctors import selectors, services
from clinical.doctors.filters import (
    AvailabilityExceptionFilter,
    AvailabilityRuleFilter,
    DoctorFilter,
    DocumentFilter,
    EducationFilter,
    ExperienceFilter,
    LanguageFilter,
    ReviewFilter,
    SpecialisationFilter,
)
from clinical.doctors.serializers import (
    AvailabilityExceptionSerializer,
    AvailabilityRuleSerializer,
    AvailableSlotsQuerySerializer,
    AvailableSlotsSerializer,
    DoctorDetailSerializer,
    DoctorListSerializer,
    DoctorPerformanceQuerySerializer,
    DoctorPerformanceSerializer,
    DoctorPrivateSerializer,
    DoctorProfileWriteSerializer,
    DoctorRejectSerializer,
    DoctorReviewCreateSerializer,
    DoctorReviewSerializer,
    DoctorSlotSerializer,
    DoctorVerificationDocumentSerializer,
    DoctorVerificationUploadSerializer,
    EducationSerializer,
    ExperienceSerializer,
    LanguageSerializer,
    SpecialisationSerializer,
)
from clinical.documents import ALLOWED_TYPES, document_response
from clinical.models import (
    AvailabilityException,
    AvailabilityRule,
    DoctorProfile,
    Document,
    Education,
    Experience,
    Language,
    Review,
    Specialisation,
)
from telehealth.accounts.models import User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.api.mixins import EnvelopeDestroyModelMixin
from telehealth.api.permissions import IsAdmin, IsDoctor, IsPatient
from telehealth.api.responses import ok
from telehealth.api.throttling import UploadRateThrottle
from telehealth.audit.services import AuditAction, audit_phi_access

TAG = "doctors"
DOCTOR_ID = OpenApiParameter("doctor_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="User id")


def _own_profile(request) -> DoctorProfile:
    """The calling doctor's profile; 404 until they created it with PUT /api/doctors/me/."""
    profile = DoctorProfile.objects.select_related("user").filter(user=request.user).first()
    if profile is None:
        raise ServiceError(
            api_codes.NOT_FOUND,
            "Create your doctor profile first (PUT /api/doctors/me/).",
            status=404,
        )
    return profile


def _self_or_staff_profile(request, doctor_id) -> DoctorProfile:
    """A doctor's profile for the doctor themselves or staff; 404 to anyone else (audited), so a
    doctor's private documents and figures neither leak nor reveal they exist."""
    user = request.user
    if not (is_staff(user) or str(user.pk) == str(doctor_id)):
        subject = User.objects.filter(pk=doctor_id).values_list("pk", flat=True).first()
        audit_phi_access(request, subject_id=subject, action=AuditAction.DENIED, resource="doctor_private")
        raise Http404("No such doctor.")
    return get_object_or_404(DoctorProfile.objects.select_related("user"), user_id=doctor_id)


# --- Reference lists -----------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Medical specialisations doctors choose from"))
@extend_schema(tags=[TAG])
class SpecialisationListView(generics.ListAPIView):
    queryset = Specialisation.objects.all()
    serializer_class = SpecialisationSerializer
    permission_classes = [AllowAny]
    filterset_class = SpecialisationFilter
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "slug"]
    ordering = ["name"]


@extend_schema_view(list=extend_schema(summary="Languages doctors consult in"))
@extend_schema(tags=[TAG])
class LanguageListView(generics.ListAPIView):
    queryset = Language.objects.all()
    serializer_class = LanguageSerializer
    permission_classes = [AllowAny]
    filterset_class = LanguageFilter
    search_fields = ["name", "code"]
    ordering_fields = ["name", "code"]
    ordering = ["name"]


# --- Directory -----------------------------------------------------------------------------------


@extend_schema(tags=[TAG])
class DoctorListView(generics.ListAPIView):
    """Verified doctors with active accounts, each with their next free slot. Staff also see
    pending and rejected ones (filter with ``verification_status``)."""

    serializer_class = DoctorListSerializer
    permission_classes = [AllowAny]
    filterset_class = DoctorFilter
    search_fields = ["user__first_name", "user__last_name", "bio", "specialisations__name"]

    # Ordering is part of DoctorFilter (aliases, nulls last), not DRF's OrderingFilter.
    filter_backends = [DjangoFilterBackend, SearchFilter]

    def get_queryset(self):
        queryset = selectors.annotate_rating(selectors.doctors_visible_to(self.request.user))
        return queryset.order_by(*selectors.default_ordering())

    @extend_schema(summary="Find doctors: filter, search, order; each with the next free slot (UTC)")
    def get(self, request, *args, **kwargs):
        queryset = selectors.with_listing_data(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(queryset)
        # One query for the booked slots of the whole page: no query per doctor.
        context = {**self.get_serializer_context(), "next_slots": selectors.next_slots_for(page)}
        return self.get_paginated_response(DoctorListSerializer(page, many=True, context=context).data)


class DoctorDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=[TAG],
        summary="One doctor's page (verified doctors; the doctor and staff see any state)",
        parameters=[DOCTOR_ID],
        responses={200: DoctorDetailSerializer},
    )
    def get(self, request, doctor_id):
        profile = selectors.get_doctor_for(request.user, doctor_id)
        private = is_staff(request.user) or request.user.pk == profile.user_id
        serializer_class = DoctorPrivateSerializer if private else DoctorDetailSerializer
        return ok(serializer_class(profile).data)


# --- The doctor's own profile --------------------------------------------------------------------


_PROFILE_CONFLICT = OpenApiResponse(
    description="`CONFLICT`: a parallel request created the profile, or took the registration number."
)


class MyProfileView(APIView):
    """The calling doctor's profile. The first PUT or PATCH creates it (pending verification)."""

    permission_classes = [IsDoctor]

    @extend_schema(tags=[TAG], summary="Your doctor profile", responses={200: DoctorPrivateSerializer})
    def get(self, request):
        profile = selectors.own_profile(request.user)
        if profile is None:
            raise ServiceError(
                api_codes.NOT_FOUND, "You have no doctor profile yet; create it with PUT.", status=404
            )
        return ok(DoctorPrivateSerializer(profile).data)

    def _write(self, request, *, partial: bool):
        profile = selectors.own_profile(request.user)
        # Creating needs every required field, whichever method is used.
        serializer = DoctorProfileWriteSerializer(
            profile, data=request.data, partial=partial and profile is not None
        )
        serializer.is_valid(raise_exception=True)
        profile, created = services.save_doctor_profile(request.user, profile, **serializer.validated_data)
        data = DoctorPrivateSerializer(selectors.own_profile(request.user)).data
        if created:
            return ok(data, message="Profile created; an admin will verify it.", status=201)
        return ok(data, message="Profile updated.")

    @extend_schema(
        tags=[TAG],
        summary="Create or replace your profile (changing registration number or council after "
        "verification sends it back to pending)",
        request=DoctorProfileWriteSerializer,
        responses={200: DoctorPrivateSerializer, 201: DoctorPrivateSerializer, 409: _PROFILE_CONFLICT},
    )
    def put(self, request):
        return self._write(request, partial=False)

    @extend_schema(
        tags=[TAG],
        summary="Change some profile fields (creates the profile when there is none)",
        request=DoctorProfileWriteSerializer,
        responses={200: DoctorPrivateSerializer, 201: DoctorPrivateSerializer, 409: _PROFILE_CONFLICT},
    )
    def patch(self, request):
        return self._write(request, partial=True)


class ResubmitView(APIView):
    permission_classes = [IsDoctor]

    @extend_schema(
        tags=[TAG],
        summary="Ask for verification again after a rejection (rejected → pending)",
        request=None,
        responses={
            200: DoctorPrivateSerializer,
            409: OpenApiResponse(description="`INVALID_TRANSITION`: the profile is not rejected."),
        },
    )
    def post(self, request):
        services.resubmit_verification(request.user, _own_profile(request))
        return ok(DoctorPrivateSerializer(selectors.own_profile(request.user)).data, message="Resubmitted.")


class _OwnEntries(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    EnvelopeDestroyModelMixin,
    viewsets.GenericViewSet,
):
    """CRUD on entries hanging off the calling doctor's own profile. Others' entries are simply
    not in the queryset (404)."""

    permission_classes = [IsDoctor]
    model: type[Model]
    save_service: Callable[..., Model]  # services.save_<entry>(actor, profile, instance=None, **data)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.model.objects.filter(doctor__user=self.request.user)

    def create(self, request, *args, **kwargs):
        profile = _own_profile(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = self.save_service(request.user, profile, **serializer.validated_data)
        return ok(self.get_serializer(entry).data, message="Created.", status=201)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        entry = self.get_object()
        serializer = self.get_serializer(entry, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = {**self._current(entry), **serializer.validated_data}
        entry = self.save_service(request.user, entry.doctor, entry, **data)
        return ok(self.get_serializer(entry).data, message="Updated.")

    def _current(self, entry) -> dict:
        """The entry's stored values, so a PATCH can be validated as a whole by the service."""
        fields = [name for name in self.get_serializer_class().Meta.fields if name != "id"]
        return {name: getattr(entry, name) for name in fields}

    def perform_destroy(self, instance):
        services.delete_entry(self.request.user, instance)


def _crud_schema(noun: str, serializer):
    return extend_schema_view(
        list=extend_schema(summary=f"Your {noun} entries"),
        create=extend_schema(summary=f"Add a {noun} entry", responses={201: serializer}),
        retrieve=extend_schema(summary=f"One of your {noun} entries"),
        update=extend_schema(summary=f"Replace a {noun} entry", responses={200: serializer}),
        partial_update=extend_schema(summary=f"Change a {noun} entry", responses={200: serializer}),
        destroy=extend_schema(summary=f"Delete a {noun} entry", responses={200: OpenApiResponse(None)}),
    )


@_crud_schema("education", EducationSerializer)
@extend_schema(tags=[TAG])
class MyEducationViewSet(_OwnEntries):
    model = Education
    serializer_class = EducationSerializer
    filterset_class = EducationFilter
    search_fields = ["degree", "institution"]
    ordering_fields = ["year", "degree"]
    ordering = ["-year", "pk"]
    save_service = staticmethod(services.save_education)


@_crud_schema("experience", ExperienceSerializer)
@extend_schema(tags=[TAG])
class MyExperienceViewSet(_OwnEntries):
    model = Experience
    serializer_class = ExperienceSerializer
    filterset_class = ExperienceFilter
    search_fields = ["organisation", "title"]
    ordering_fields = ["start_date", "end_date"]
    ordering = ["-start_date", "pk"]
    save_service = staticmethod(services.save_experience)


@_crud_schema("weekly availability", AvailabilityRuleSerializer)
@extend_schema(tags=[TAG])
class MyAvailabilityRuleViewSet(_OwnEntries):
    """Weekly windows in your own time zone (your account's ``timezone``)."""

    model = AvailabilityRule
    serializer_class = AvailabilityRuleSerializer
    filterset_class = AvailabilityRuleFilter
    search_fields: list[str] = []
    ordering_fields = ["weekday", "start_time"]
    ordering = ["weekday", "start_time", "pk"]
    save_service = staticmethod(services.save_availability_rule)


@_crud_schema("availability exception", AvailabilityExceptionSerializer)
@extend_schema(tags=[TAG])
class MyAvailabilityExceptionViewSet(_OwnEntries):
    """Leave (whole day without times, or a window) and extra hours on one date."""

    model = AvailabilityException
    serializer_class = AvailabilityExceptionSerializer
    filterset_class = AvailabilityExceptionFilter
    search_fields = ["reason"]
    ordering_fields = ["date", "start_time"]
    ordering = ["date", "start_time", "pk"]
    save_service = staticmethod(services.save_availability_exception)


# --- Verification --------------------------------------------------------------------------------


@extend_schema(tags=[TAG])
class MyVerificationDocumentsView(generics.ListCreateAPIView):
    """Your licence, degree certificates and ID for the admins who verify you."""

    permission_classes = [IsDoctor]
    serializer_class = DoctorVerificationDocumentSerializer
    filterset_class = DocumentFilter
    search_fields = ["original_name"]
    ordering_fields = ["created_at", "size"]
    ordering = ["-created_at"]

    def get_throttles(self):
        if self.request.method == "POST":
            return [*super().get_throttles(), UploadRateThrottle()]
        return super().get_throttles()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        return selectors.verification_documents_of(self.request.user.pk)

    @extend_schema(summary="Your verification documents")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a verification document (multipart, field `file`)",
        request={"multipart/form-data": DoctorVerificationUploadSerializer},
        responses={
            201: DoctorVerificationDocumentSerializer,
            413: OpenApiResponse(description="`FILE_TOO_LARGE`"),
            415: OpenApiResponse(description="`UNSUPPORTED_FILE_TYPE`: not PDF, PNG, JPEG or DICOM."),
        },
    )
    def post(self, request, *args, **kwargs):
        profile = _own_profile(request)
        serializer = DoctorVerificationUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = services.upload_verification_document(
            request.user, profile, serializer.validated_data["file"]
        )
        return ok(DoctorVerificationDocumentSerializer(document).data, message="Uploaded.", status=201)


@extend_schema(tags=[TAG])
class DoctorVerificationDocumentsView(generics.ListAPIView):
    """A doctor's verification documents: for the doctor and staff."""

    permission_classes = [IsAuthenticated]
    serializer_class = DoctorVerificationDocumentSerializer
    filterset_class = DocumentFilter
    search_fields = ["original_name"]
    ordering_fields = ["created_at", "size"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        profile = _self_or_staff_profile(self.request, self.kwargs["doctor_id"])
        audit_phi_access(
            self.request,
            subject_id=profile.user_id,
            action=AuditAction.READ,
            resource="verification_document",
        )
        return selectors.verification_documents_of(profile.user_id)

    @extend_schema(summary="A doctor's verification documents (the doctor and staff)", parameters=[DOCTOR_ID])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _download(request, doctor_id, document_id):
    profile = _self_or_staff_profile(request, doctor_id)
    document = selectors.verification_documents_of(profile.user_id).filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    audit_phi_access(
        request,
        subject_id=profile.user_id,
        action=AuditAction.DOWNLOAD,
        resource="verification_document",
        object_id=document,
    )
    return document_response(document)


# Served with the type sniffed at upload, one of the allowed ones.
_FILE_RESPONSE = {(200, content_type): OpenApiTypes.BINARY for content_type in ALLOWED_TYPES}


class DoctorVerificationDocumentDownloadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=[TAG],
        summary="Download a doctor's verification document (the doctor and staff)",
        parameters=[
            DOCTOR_ID,
            OpenApiParameter("document_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
        ],
        responses=_FILE_RESPONSE,
    )
    def get(self, request, doctor_id, document_id):
        return _download(request, doctor_id, document_id)


class MyVerificationDocumentDownloadView(APIView):
    permission_classes = [IsDoctor]

    @extend_schema(
        tags=[TAG],
        summary="Download one of your verification documents",
        parameters=[OpenApiParameter("document_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses=_FILE_RESPONSE,
    )
    def get(self, request, document_id):
        return _download(request, request.user.pk, document_id)


_DECISION_CONFLICT = OpenApiResponse(
    description="`INVALID_TRANSITION`: the profile is not in a state this decision applies to."
)


class _Decision(APIView):
    permission_classes = [IsAdmin]

    def _profile(self, doctor_id) -> DoctorProfile:
        return get_object_or_404(DoctorProfile.objects.select_related("user"), user_id=doctor_id)

    def _answer(self, request, profile: DoctorProfile, message: str):
        audit_phi_access(
            request,
            subject_id=profile.user_id,
            action=AuditAction.UPDATE,
            resource="doctor_verification",
            object_id=profile.verification_status,
        )
        return ok(
            DoctorPrivateSerializer(selectors.get_doctor_for(request.user, profile.user_id)).data,
            message=message,
        )


class VerifyDoctorView(_Decision):
    @extend_schema(
        tags=[TAG],
        summary="Verify a pending doctor (admins): listed and bookable from now on",
        parameters=[DOCTOR_ID],
        request=None,
        responses={200: DoctorPrivateSerializer, 409: _DECISION_CONFLICT},
    )
    def post(self, request, doctor_id):
        profile = services.verify_doctor(request.user, self._profile(doctor_id))
        return self._answer(request, profile, "Doctor verified.")


class RejectDoctorView(_Decision):
    @extend_schema(
        tags=[TAG],
        summary="Reject a pending doctor or revoke a verified one, with a reason (admins)",
        parameters=[DOCTOR_ID],
        request=DoctorRejectSerializer,
        responses={200: DoctorPrivateSerializer, 409: _DECISION_CONFLICT},
    )
    def post(self, request, doctor_id):
        serializer = DoctorRejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = services.reject_doctor(
            request.user, self._profile(doctor_id), reason=serializer.validated_data["reason"]
        )
        return self._answer(request, profile, "Doctor rejected.")


# --- Slots ---------------------------------------------------------------------------------------


class AvailableSlotsView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=[TAG],
        summary="Free slots on a date (the date in the doctor's zone; slots in UTC)",
        parameters=[DOCTOR_ID, AvailableSlotsQuerySerializer],
        responses={200: AvailableSlotsSerializer},
    )
    def get(self, request, doctor_id):
        query = AvailableSlotsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        profile = selectors.get_doctor_for(request.user, doctor_id)
        day = query.validated_data["date"]
        slots = selectors.slots_on(profile, day)
        return ok(
            {
                "doctor_id": profile.user_id,
                "date": day,
                "timezone": selectors.doctor_zone(profile),
                "slot_minutes": profile.slot_minutes,
                "buffer_minutes": profile.buffer_minutes,
                "slots": DoctorSlotSerializer(slots, many=True).data,
            }
        )


# --- Reviews -------------------------------------------------------------------------------------


@extend_schema(tags=[TAG], parameters=[DOCTOR_ID])
class DoctorReviewsView(generics.ListCreateAPIView):
    """Anyone reads a public doctor's reviews; a patient reviews a completed consultation once."""

    serializer_class = DoctorReviewSerializer
    filterset_class = ReviewFilter
    search_fields = ["comment"]
    ordering_fields = ["created_at", "rating"]
    ordering = ["-created_at", "pk"]

    def get_permissions(self):
        return [IsPatient()] if self.request.method == "POST" else [AllowAny()]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Review.objects.none()
        profile = selectors.get_doctor_for(self.request.user, self.kwargs["doctor_id"])
        return selectors.reviews_of(profile)

    @extend_schema(summary="A doctor's reviews")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Review your completed consultation with this doctor (patients, once)",
        request=DoctorReviewCreateSerializer,
        responses={
            201: DoctorReviewSerializer,
            409: OpenApiResponse(
                description="`REVIEW_NOT_ALLOWED` (the consultation is not completed) or `ALREADY_REVIEWED`."
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = DoctorReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Reviews are allowed for any doctor the patient really saw, verified today or not.
        profile = get_object_or_404(DoctorProfile, user_id=kwargs["doctor_id"])
        review = services.submit_review(
            request.user,
            profile,
            consultation_id=serializer.validated_data["consultation"],
            rating=serializer.validated_data["rating"],
            comment=serializer.validated_data["comment"],
        )
        return ok(DoctorReviewSerializer(review).data, message="Thank you for your review.", status=201)


# --- Performance ---------------------------------------------------------------------------------


def _performance(request, doctor_id):
    query = DoctorPerformanceQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    summary = selectors.performance_of(doctor_id, **query.validated_data)
    return ok(DoctorPerformanceSerializer(summary).data)


class MyPerformanceView(APIView):
    permission_classes = [IsDoctor]

    @extend_schema(
        tags=[TAG],
        summary="Your consultations, completion rate, rating and revenue",
        parameters=[DoctorPerformanceQuerySerializer],
        responses={200: DoctorPerformanceSerializer},
    )
    def get(self, request):
        return _performance(request, request.user.pk)


class DoctorPerformanceView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        tags=[TAG],
        summary="A doctor's performance summary (admins)",
        parameters=[DOCTOR_ID, DoctorPerformanceQuerySerializer],
        responses={200: DoctorPerformanceSerializer},
    )
    def get(self, request, doctor_id):
        profile = get_object_or_404(DoctorProfile, user_id=doctor_id)
        return _performance(request, profile.user_id)
