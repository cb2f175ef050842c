"""E-clinics: registration, verification, staff, services, inventory, reviews, geographic search.

Booking an in-clinic appointment is not here: it is ``POST /api/consultations/`` with type
``in_clinic`` and the clinic's id, under the same rules as every other booking.
"""

from __future__ import annotations

from functools import cached_property

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated

from clinical.access import is_staff
from clinical.clinics import selectors, services
from clinical.clinics.filters import (
    ClinicAppointmentFilter,
    ClinicFilter,
    ClinicMemberFilter,
    ClinicReviewFilter,
    ClinicServiceFilter,
    InventoryFilter,
    MyClinicFilter,
)
from clinical.clinics.serializers import (
    ClinicAppointmentSerializer,
    ClinicMemberSerializer,
    ClinicReviewCreateSerializer,
    ClinicReviewSerializer,
    ClinicSerializer,
    ClinicServiceSerializer,
    ClinicWriteSerializer,
    InventoryItemSerializer,
    InventoryItemUpdateSerializer,
    MyClinicSerializer,
    RejectSerializer,
    StockAdjustSerializer,
)
from clinical.models import Clinic, ClinicMember, ClinicReview, ClinicService, Consultation, InventoryItem
from telehealth.api.errors import ServiceError
from telehealth.api.permissions import IsAdmin
from telehealth.api.responses import ok
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access, audit_phi_reads

TAG = "eclinic"
DELETED = OpenApiResponse(description="Deleted; `data` is null.")
INVALID_TRANSITION = OpenApiResponse(
    description="`INVALID_TRANSITION`: the clinic is not in a state this decision applies to."
)


def _details(clinic: Clinic) -> dict:
    return ClinicSerializer(selectors.clinic_with_details(clinic.pk)).data


@extend_schema_view(
    list=extend_schema(
        summary="Verified clinics; with ?lat=&lng=&radius_km= those within the radius, nearest first",
        description=(
            "Public directory of verified clinics. A geographic search first keeps the clinics in a "
            "latitude/longitude bounding box (an index range scan; correct near the poles and across "
            "the antimeridian), then computes the exact great-circle distance (`distance_km`) and "
            "drops those beyond the radius. Booking is `POST /api/consultations/` with "
            "`type: in_clinic` and the clinic's id."
        ),
    ),
    retrieve=extend_schema(summary="One clinic: public when verified, otherwise its members and staff"),
)
@extend_schema(tags=[TAG])
class ClinicViewSet(viewsets.GenericViewSet):
    queryset = Clinic.objects.all()
    serializer_class = ClinicSerializer
    filterset_class = ClinicFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "rating_avg", "distance_km"]
    lookup_value_regex = r"\d+"

    def get_permissions(self):
        if self.action in {"list", "retrieve"}:
            return [AllowAny()]
        if self.action in {"verify", "reject"}:
            return [IsAdmin()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return selectors.public_clinics()

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ClinicSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        clinic = selectors.get_visible_clinic(request.user, pk, details=True)
        return ok(ClinicSerializer(clinic).data)

    @extend_schema(
        summary="Register a clinic: you become its admin; it stays pending until verified",
        request=ClinicWriteSerializer,
        responses={201: ClinicSerializer},
    )
    def create(self, request):
        serializer = ClinicWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        clinic = services.register_clinic(request.user, **serializer.validated_data)
        return ok(_details(clinic), message="Clinic registered; awaiting verification.", status=201)

    @extend_schema(
        summary="Change a clinic's details (clinic admins); a rejected clinic is resubmitted",
        request=ClinicWriteSerializer,
        responses={200: ClinicSerializer},
    )
    def partial_update(self, request, pk=None):
        clinic = selectors.get_visible_clinic(request.user, pk)
        services.require_clinic_admin(request.user, clinic)  # before validating: outsiders learn nothing
        serializer = ClinicWriteSerializer(clinic, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        clinic = services.update_clinic(request.user, clinic, **serializer.validated_data)
        return ok(_details(clinic), message="Clinic updated.")

    @extend_schema(
        summary="Verify a pending clinic (platform admins)",
        request=None,
        responses={200: ClinicSerializer, 409: INVALID_TRANSITION},
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        clinic = services.verify_clinic(request.user, get_object_or_404(Clinic, pk=pk))
        return ok(_details(clinic), message="Clinic verified.")

    @extend_schema(
        summary="Reject a pending clinic or withdraw a verified one (platform admins)",
        request=RejectSerializer,
        responses={200: ClinicSerializer, 409: INVALID_TRANSITION},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        clinic = get_object_or_404(Clinic, pk=pk)
        clinic = services.reject_clinic(request.user, clinic, reason=serializer.validated_data["reason"])
        return ok(_details(clinic), message="Clinic rejected.")


@extend_schema(tags=[TAG], summary="Clinics I belong to, whatever their status, with my role")
class MyClinicsView(ListAPIView):
    serializer_class = MyClinicSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = MyClinicFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    queryset = Clinic.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Clinic.objects.none()
        return selectors.my_clinics(self.request.user)


class _ClinicScoped:
    """Views under ``/api/eclinic/<clinic_id>/``: the clinic, if the caller may see it (else 404)."""

    @cached_property
    def clinic(self) -> Clinic:
        return selectors.get_visible_clinic(self.request.user, self.kwargs["clinic_id"])

    def _item(self, queryset):
        return get_object_or_404(queryset, pk=self.kwargs["pk"])


@extend_schema_view(
    list=extend_schema(summary="A clinic's members (its members and platform admins)"),
    create=extend_schema(
        summary="Attach a user (clinic admins); doctors must have a doctor account",
        responses={
            201: ClinicMemberSerializer,
            409: OpenApiResponse(description="`ALREADY_MEMBER`"),
        },
    ),
    destroy=extend_schema(
        summary="Remove a member (clinic admins), or leave the clinic yourself",
        responses={
            200: DELETED,
            409: OpenApiResponse(description="`LAST_CLINIC_ADMIN`: a clinic keeps at least one admin."),
        },
    ),
)
@extend_schema(tags=[TAG])
class ClinicMemberViewSet(_ClinicScoped, viewsets.GenericViewSet):
    serializer_class = ClinicMemberSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = ClinicMemberFilter
    search_fields = ["user__first_name", "user__last_name"]
    ordering_fields = ["joined_at", "role"]
    queryset = ClinicMember.objects.none()

    def get_queryset(self):
        return selectors.clinic_members(self.clinic)

    def list(self, request, clinic_id=None):
        services.require_member_or_staff(request.user, self.clinic)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request, clinic_id=None):
        services.require_clinic_admin(request.user, self.clinic)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.add_member(request.user, self.clinic, **serializer.validated_data)
        return ok(self.get_serializer(member).data, message="Member added.", status=201)

    def destroy(self, request, clinic_id=None, pk=None):
        services.remove_member(request.user, self.clinic, self._item(self.get_queryset()))
        return ok(None, message="Member removed.")


@extend_schema_view(
    list=extend_schema(summary="A clinic's services and prices (public for verified clinics)"),
    retrieve=extend_schema(summary="One service"),
    create=extend_schema(summary="Add a service (clinic admins)", responses={201: ClinicServiceSerializer}),
    partial_update=extend_schema(summary="Change a service (clinic admins)"),
    destroy=extend_schema(summary="Delete a service (clinic admins)", responses={200: DELETED}),
)
@extend_schema(tags=[TAG])
class ClinicServiceViewSet(_ClinicScoped, viewsets.GenericViewSet):
    serializer_class = ClinicServiceSerializer
    filterset_class = ClinicServiceFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "price_amount", "duration_minutes"]
    ordering = ["name"]
    queryset = ClinicService.objects.none()

    def get_permissions(self):
        return [AllowAny()] if self.action in {"list", "retrieve"} else [IsAuthenticated()]

    def get_queryset(self):
        insider = is_staff(self.request.user) or selectors.member_role(self.request.user, self.clinic)
        return selectors.clinic_services(self.clinic, include_inactive=bool(insider))

    def list(self, request, clinic_id=None):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, clinic_id=None, pk=None):
        return ok(self.get_serializer(self._item(self.get_queryset())).data)

    def create(self, request, clinic_id=None):
        services.require_clinic_admin(request.user, self.clinic)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = services.create_service(request.user, self.clinic, **serializer.validated_data)
        return ok(self.get_serializer(service).data, message="Service added.", status=201)

    def partial_update(self, request, clinic_id=None, pk=None):
        services.require_clinic_admin(request.user, self.clinic)
        service = self._item(self.get_queryset())
        serializer = self.get_serializer(service, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        service = services.update_service(request.user, service, **serializer.validated_data)
        return ok(self.get_serializer(service).data, message="Service updated.")

    def destroy(self, request, clinic_id=None, pk=None):
        services.delete_service(request.user, self._item(self.get_queryset()))
        return ok(None, message="Service deleted.")


@extend_schema_view(
    list=extend_schema(summary="A clinic's medicine stock (clinic members and platform admins)"),
    retrieve=extend_schema(summary="One stock line"),
    create=extend_schema(
        summary="Add a stock line (clinic admins and staff)",
        responses={
            201: InventoryItemSerializer,
            409: OpenApiResponse(description="`ALREADY_STOCKED`: adjust the existing line instead."),
        },
    ),
    partial_update=extend_schema(
        summary="Change a line's low-stock threshold or unit (clinic admins and staff)",
        request=InventoryItemUpdateSerializer,
        responses={200: InventoryItemSerializer},
    ),
    destroy=extend_schema(summary="Delete a stock line (clinic admins and staff)", responses={200: DELETED}),
)
@extend_schema(tags=[TAG])
class InventoryViewSet(_ClinicScoped, viewsets.GenericViewSet):
    serializer_class = InventoryItemSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = InventoryFilter
    search_fields = ["medication__generic_name", "medication__brand_name"]
    ordering_fields = ["stock", "medication__generic_name", "updated_at"]
    ordering = ["medication__generic_name", "pk"]
    queryset = InventoryItem.objects.none()

    def get_queryset(self):
        return selectors.clinic_inventory(self.clinic)

    def list(self, request, clinic_id=None):
        services.require_member_or_staff(request.user, self.clinic)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, clinic_id=None, pk=None):
        services.require_member_or_staff(request.user, self.clinic)
        return ok(self.get_serializer(self._item(self.get_queryset())).data)

    def create(self, request, clinic_id=None):
        services.require_clinic_role(request.user, self.clinic, services.INVENTORY_ROLES)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.add_inventory_item(request.user, self.clinic, **serializer.validated_data)
        return ok(self.get_serializer(item).data, message="Stock line added.", status=201)

    def partial_update(self, request, clinic_id=None, pk=None):
        services.require_clinic_role(request.user, self.clinic, services.INVENTORY_ROLES)
        item = self._item(self.get_queryset())
        serializer = InventoryItemUpdateSerializer(item, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        item = services.update_inventory_item(request.user, item, **serializer.validated_data)
        return ok(self.get_serializer(item).data, message="Stock line updated.")

    def destroy(self, request, clinic_id=None, pk=None):
        services.require_member_or_staff(request.user, self.clinic)
        services.delete_inventory_item(request.user, self._item(self.get_queryset()))
        return ok(None, message="Stock line deleted.")

    @extend_schema(
        summary="Add or take stock atomically; never below zero (409 INSUFFICIENT_STOCK)",
        request=StockAdjustSerializer,
        responses={200: InventoryItemSerializer, 409: OpenApiResponse(description="`INSUFFICIENT_STOCK`")},
    )
    @action(detail=True, methods=["post"])
    def adjust(self, request, clinic_id=None, pk=None):
        services.require_clinic_role(request.user, self.clinic, services.INVENTORY_ROLES)
        item = self._item(self.get_queryset())
        serializer = StockAdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.adjust_stock(request.user, item, **serializer.validated_data)
        return ok(self.get_serializer(item).data, message="Stock adjusted.")


@extend_schema_view(
    list=extend_schema(summary="A clinic's reviews (public for verified clinics; anonymous)"),
    create=extend_schema(
        summary="Review the clinic after your completed in-clinic consultation there (once)",
        request=ClinicReviewCreateSerializer,
        responses={201: ClinicReviewSerializer, 409: OpenApiResponse(description="`ALREADY_REVIEWED`")},
    ),
)
@extend_schema(tags=[TAG])
class ClinicReviewViewSet(_ClinicScoped, viewsets.GenericViewSet):
    serializer_class = ClinicReviewSerializer
    filterset_class = ClinicReviewFilter
    search_fields = ["comment"]
    ordering_fields = ["created_at", "rating"]
    ordering = ["-created_at", "pk"]
    queryset = ClinicReview.objects.none()

    def get_permissions(self):
        return [AllowAny()] if self.action == "list" else [IsAuthenticated()]

    def get_queryset(self):
        return selectors.clinic_reviews(self.clinic)

    def list(self, request, clinic_id=None):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request, clinic_id=None):
        serializer = ClinicReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        review = services.review_clinic(
            request.user,
            self.clinic,
            consultation_id=data["consultation"],
            rating=data["rating"],
            comment=data["comment"],
        )
        return ok(ClinicReviewSerializer(review).data, message="Thank you for your review.", status=201)


@extend_schema(
    tags=[TAG],
    summary="The clinic's appointments (clinic admins and platform admins)",
    description="Booking is `POST /api/consultations/` with `type: in_clinic` and the clinic's id.",
)
class ClinicAppointmentListView(_ClinicScoped, ListAPIView):
    serializer_class = ClinicAppointmentSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = ClinicAppointmentFilter
    search_fields = ["patient__first_name", "patient__last_name", "doctor__first_name", "doctor__last_name"]
    ordering_fields = ["scheduled_start", "state"]
    ordering = ["scheduled_start", "pk"]
    queryset = Consultation.objects.none()
    resource = "clinic_appointment"

    def get_queryset(self):
        return selectors.clinic_appointments(self.clinic)

    def list(self, request, *args, **kwargs):
        try:
            services.require_clinic_admin_or_staff(request.user, self.clinic)
        except ServiceError:
            audit_phi_access(
                request,
                subject_id=None,
                action=AuditAction.DENIED,
                resource=self.resource,
                object_id=self.clinic,
            )
            raise
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        audit_phi_reads(request, [(c.patient_id, c.pk) for c in page], resource=self.resource)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
