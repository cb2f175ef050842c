"""Revenue, geography (staff) and doctor performance (staff; a doctor their own). The figures and
their definitions are in ``analytics.money``; answers are cached briefly and dropped on any
relevant write (``analytics.cache``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.views import APIView

from analytics import money
from analytics import money_serializers as s
from analytics.cache import cached
from analytics.params import window_from_query, window_json
from analytics.periods import Window
from payments.selectors import doctor_by_id
from telehealth.accounts.models import User
from telehealth.api.permissions import IsAdmin, IsDoctor
from telehealth.api.responses import ok
from telehealth.api.throttling import AnalyticsRateThrottle

TAG = "analytics"
_WINDOW_RULE = (
    "`from` and `to` are calendar days, both included (default: the last 30 days up to today), in "
    "the time zone `tz` if given, else your profile's time zone (UTC unless you set one): from local "
    "midnight to local midnight; the answer's `window` says which. "
)


def _window(request, serializer_class) -> tuple[Window, dict[str, Any]]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return window_from_query(request.user, query.validated_data), query.validated_data


@extend_schema(
    tags=[TAG],
    summary="Revenue per currency: gross, refunds, net, platform fee, by gateway, doctor, etc. (staff)",
    description=(
        _WINDOW_RULE + "About the payments that succeeded in the window (as `/api/payments/analytics/` "
        "counts them), whatever became of them: `gross` is what they charged, `refunds` what has "
        "been refunded of them so far, `net` = gross - refunds, `doctor_share` what the doctors keep "
        "(the payout ledger: earnings less refund reversals; dispute holds left out) and "
        "`platform_fee` = net - doctor_share. One entry per currency, never mixed. `series` has "
        "every day, week (from Monday) or month of the window. A payment counts in each of its "
        "doctor's specialisations (`\"\"`: none); `by_clinic` is the consultation's clinic "
        "(`clinic_id` null: none). `by_doctor` and `by_clinic`: the `limit` largest by gross."
    ),
    parameters=[s.RevenueQuerySerializer],
    responses={200: s.RevenueSerializer},
)
class RevenueView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        window, data = _window(request, s.RevenueQuerySerializer)
        currency, limit = data.get("currency"), data["limit"]
        report = cached(
            "revenue",
            {**window_json(window), "currency": currency, "limit": limit},
            lambda: money.revenue(window, currency=currency, limit=limit),
        )
        return ok(s.RevenueSerializer({"window": window_json(window), **report}).data)


@extend_schema(
    tags=[TAG],
    summary="Patients, doctors, clinics and consultations by country, state or city (staff)",
    description=(
        _WINDOW_RULE + "`patients`: active patient accounts registered by the end of `to`, at their "
        "profile address. `clinics`: verified clinics registered by then, at their address. "
        "`doctors`: active doctor accounts registered by then, at the address of each clinic they "
        "belong to (in two cities: counted in both; in none: unknown). `consultations`: scheduled "
        "in the window, any state; in-clinic visits at the clinic's address, the rest at the "
        'patient\'s. Blank or missing parts of an address are grouped as `""` (unknown); parts '
        "finer than `level` are null. Most consultations (then patients) first."
    ),
    parameters=[s.GeographyQuerySerializer],
    responses={200: s.GeographySerializer},
)
class GeographyView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        window, data = _window(request, s.GeographyQuerySerializer)
        level, limit = data["level"], data["limit"]
        report = cached(
            "geography",
            {**window_json(window), "level": level, "limit": limit},
            lambda: money.geography(window, level=level, limit=limit),
        )
        return ok(s.GeographySerializer({"window": window_json(window), **report}).data)


@extend_schema(
    tags=[TAG],
    summary="Per doctor: consultations, completion rate, rating, revenue, response time (staff; doctors)",
    description=(
        _WINDOW_RULE + "Staff see every doctor account (or `doctor`; an unknown one is 404); a "
        "doctor sees only themselves (naming another doctor is 403, as for earnings). About the "
        "consultations scheduled in the window: `completion_rate` = completed / (completed + "
        "cancelled + no-show), rescheduled ones counting neither way; `average_rating` over their "
        "reviews; `average_response_minutes` from the patient entering the waiting room "
        "(`waiting_since`) to the doctor admitting them (`started_at`), over those with both. "
        "`revenue`: the doctor's payments that succeeded in the window, per currency, as in "
        "`revenue/`. Only aggregates: no patient is named."
    ),
    parameters=[s.PerformanceQuerySerializer],
    responses={
        200: s.PerformanceSerializer,
        403: OpenApiResponse(description="Patients; a doctor naming another doctor."),
        404: OpenApiResponse(description="Staff: no such doctor."),
    },
)
class DoctorPerformanceView(APIView):
    permission_classes = [IsDoctor | IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        window, data = _window(request, s.PerformanceQuerySerializer)
        doctor_id = self._doctor(request.user, data.get("doctor"))
        page = {"ordering": data["ordering"], "limit": data["limit"], "offset": data["offset"]}
        report = cached(
            "doctor-performance",
            {**window_json(window), "doctor": doctor_id, **page},
            lambda: money.doctor_performance(window, doctor_id=doctor_id, **page),
        )
        return ok(s.PerformanceSerializer({"window": window_json(window), **report}).data)

    @staticmethod
    def _doctor(user: User, wanted: Any) -> Any:
        """Whose figures: a doctor their own (naming another is refused), staff ``wanted`` or all."""
        if not user.is_admin_role:
            if wanted is not None and wanted != user.pk:
                raise exceptions.PermissionDenied("Doctors see their own performance only.")
            return user.pk
        if wanted is not None and doctor_by_id(wanted) is None:
            raise exceptions.NotFound("No such doctor.")
        return wanted
