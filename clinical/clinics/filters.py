from __future__ import annotations

from decimal import Decimal

import django_filters
from django import forms
from django.db.models import F, FloatField, QuerySet, Value

from clinical.clinics.geo import (
    DEFAULT_RADIUS_KM,
    MAX_RADIUS_KM,
    bounding_box,
    bounding_box_q,
    distance_km_expression,
)
from clinical.models import (
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicRole,
    ClinicService,
    Consultation,
    ConsultationState,
    ConsultationType,
    InventoryItem,
    VerificationStatus,
)
from telehealth.api.filters import IsoDateTimeFilter


class ClinicSearchForm(forms.Form):
    """Cross-field rules of the geographic search."""

    def clean_radius_km(self) -> Decimal | None:
        radius = self.cleaned_data.get("radius_km")
        if radius is not None and radius <= 0:
            raise forms.ValidationError("Must be greater than 0.")
        return radius

    def clean(self) -> dict:
        data = super().clean()
        lat, lng = data.get("lat"), data.get("lng")
        if (lat is None) != (lng is None) and not ({"lat", "lng"} & set(self.errors)):
            missing = "lng" if lng is None else "lat"
            self.add_error(missing, "Give lat and lng together.")
        elif data.get("radius_km") is not None and lat is None and "lat" not in self.errors:
            self.add_error("radius_km", "radius_km needs lat and lng.")
        return data


class ClinicFilter(django_filters.FilterSet):
    city = django_filters.CharFilter(lookup_expr="iexact")
    country = django_filters.CharFilter(lookup_expr="iexact", max_length=2)
    service = django_filters.CharFilter(
        method="filter_service", label="Offers an active service whose name contains this"
    )
    specialisation = django_filters.CharFilter(
        method="filter_specialisation", label="Has a doctor with this specialisation (slug)"
    )
    rating_min = django_filters.NumberFilter(
        method="filter_rating_min", min_value=0, max_value=5, label="Average rating at least this"
    )
    lat = django_filters.NumberFilter(
        method="filter_geo", min_value=-90, max_value=90, label="Latitude of the search centre"
    )
    lng = django_filters.NumberFilter(
        method="filter_geo", min_value=-180, max_value=180, label="Longitude of the search centre"
    )
    radius_km = django_filters.NumberFilter(
        method="filter_geo",
        max_value=MAX_RADIUS_KM,
        label=f"Search radius in km, 0 < r <= {MAX_RADIUS_KM} (default {DEFAULT_RADIUS_KM})",
    )

    class Meta:
        model = Clinic
        fields = ["city", "country"]
        form = ClinicSearchForm

    def filter_service(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        services = ClinicService.objects.filter(active=True, name__icontains=value)
        return queryset.filter(pk__in=services.values("clinic_id"))

    def filter_specialisation(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        doctors = ClinicMember.objects.filter(
            role=ClinicRole.DOCTOR, user__doctor_profile__specialisations__slug=value
        )
        return queryset.filter(pk__in=doctors.values("clinic_id"))

    def filter_rating_min(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        # sum / count >= v  <=>  100 * sum >= count * round(100 * v): integers only, no float ties.
        hundredths = int((value * 100).to_integral_value())
        return queryset.alias(rating_x100=F("rating_sum") * 100).filter(
            rating_count__gt=0, rating_x100__gte=F("rating_count") * hundredths
        )

    def filter_geo(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return queryset  # applied once, in ``filter_queryset``, with all three values

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        if data.get("lat") is None:
            return queryset.annotate(distance_km=Value(None, output_field=FloatField())).order_by(
                "name", "pk"
            )
        lat, lng = float(data["lat"]), float(data["lng"])
        radius = float(data["radius_km"]) if data.get("radius_km") is not None else float(DEFAULT_RADIUS_KM)
        # The box is a cheap range scan on the clinic_lat_lng index; the exact distance is then
        # only computed for the rows inside it.
        return (
            queryset.filter(bounding_box_q(bounding_box(lat, lng, radius)))
            .annotate(distance_km=distance_km_expression(lat, lng))
            .filter(distance_km__lte=radius)
            .order_by("distance_km", "pk")
        )


class MyClinicFilter(django_filters.FilterSet):
    verification_status = django_filters.ChoiceFilter(choices=VerificationStatus.choices)
    clinic_role = django_filters.ChoiceFilter(
        field_name="my_role", choices=ClinicRole.choices, label="My role in the clinic"
    )

    class Meta:
        model = Clinic
        fields = ["verification_status"]


class ClinicMemberFilter(django_filters.FilterSet):
    clinic_role = django_filters.ChoiceFilter(field_name="role", choices=ClinicRole.choices)

    class Meta:
        model = ClinicMember
        fields = ["clinic_role"]


class ClinicServiceFilter(django_filters.FilterSet):
    price_min = django_filters.NumberFilter(field_name="price_amount", lookup_expr="gte", min_value=0)
    price_max = django_filters.NumberFilter(field_name="price_amount", lookup_expr="lte", min_value=0)

    class Meta:
        model = ClinicService
        fields = ["active", "price_currency"]


class InventoryFilter(django_filters.FilterSet):
    low_stock = django_filters.BooleanFilter(method="filter_low_stock", label="At or below the threshold")

    class Meta:
        model = InventoryItem
        fields = ["medication"]

    def filter_low_stock(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value:
            return queryset.filter(stock__lte=F("low_stock_threshold"))
        return queryset.filter(stock__gt=F("low_stock_threshold"))


class ClinicReviewFilter(django_filters.FilterSet):
    rating_min = django_filters.NumberFilter(field_name="rating", lookup_expr="gte", min_value=1, max_value=5)

    class Meta:
        model = ClinicReview
        fields = ["rating"]


class ClinicAppointmentFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ConsultationState.choices)
    type = django_filters.ChoiceFilter(choices=ConsultationType.choices)
    doctor = django_filters.UUIDFilter(field_name="doctor_id")
    start_after = IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="gte")
    start_before = IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="lt")

    class Meta:
        model = Consultation
        fields = ["state", "type", "doctor"]
