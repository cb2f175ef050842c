"""Staff overview endpoints: the live dashboard, user growth and consultation statistics. The
figures and their definitions are in ``analytics.overview``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from analytics import overview
from analytics import serializers as s
from analytics.cache import cached
from analytics.params import profile_zone, window_from_query, window_json
from telehealth.api.permissions import IsAdmin
from telehealth.api.responses import ok
from telehealth.api.throttling import AnalyticsRateThrottle

TAG = "analytics"
# Room presence changes without a database write, so the live count is only cached this long.
LIVE_SECONDS = 10
_ZONE_RULE = (
    "Dates are calendar days in the time zone `tz` if given, else your profile's time zone (UTC "
    "unless you set one), from local midnight to local midnight; the answer says which. "
)
_WINDOW_RULE = (
    "`from` and `to` are both included (default: the last 30 days up to today); periods are days, "
    "weeks (from Monday) or months, each labelled with its first day. At most 366 days, 262 weeks "
    "or 120 months per answer. "
)


@extend_schema(
    tags=[TAG],
    summary="Live dashboard counters (staff)",
    description=(
        "Accounts by role, consultations in a room right now (waiting or in progress with someone "
        "present: room state), today's consultations by state, revenue today and this month per "
        "currency (payments that succeeded, refunds that succeeded, net), today's sign-ups, doctors "
        "awaiting verification and the average review rating. 'Today' and 'this month' are in the "
        "time zone `tz` if given, else your profile's time zone. Figures are cached for a short time "
        "and dropped on any relevant write; the room count is at most a few seconds old."
    ),
    parameters=[s.DashboardQuerySerializer],
    responses={200: s.DashboardSerializer},
)
class DashboardView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        query = s.DashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tz = query.validated_data.get("tz")
        zone = ZoneInfo(tz) if tz else profile_zone(request.user)
        today = overview.today_window(zone).start
        figures = cached(
            "dashboard", {"tz": zone.key, "today": today}, lambda: overview.dashboard_figures(zone)
        )
        live = cached("active-consultations", {}, overview.active_consultations, ttl=LIVE_SECONDS)
        return ok(s.DashboardSerializer({**figures, "active_consultations": live}).data)


@extend_schema(
    tags=[TAG],
    summary="Sign-ups, active users and patient retention (staff)",
    description=(
        "Per period and role: accounts created, and active accounts (distinct accounts that signed "
        "in or refreshed their session in the period). Totals over the window (active users are "
        "distinct over the whole window, not a sum). Retention: patients whose first booking (not "
        "cancelled, not a reschedule) was made in the window, by period, and how many booked again "
        "within 30/60/90 days; a patient counts towards N only once N days have passed since the "
        "first booking. `role` filters sign-ups and active users, not retention. " + _ZONE_RULE + _WINDOW_RULE
    ),
    parameters=[s.UserGrowthQuerySerializer],
    responses={200: s.UserGrowthSerializer},
)
class UserGrowthView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        query = s.UserGrowthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = window_from_query(request.user, query.validated_data)
        role = query.validated_data.get("role")
        params = {"window": window_json(window), "role": role}
        report = cached("user-growth", params, lambda: overview.user_growth(window, role))
        return ok(s.UserGrowthSerializer({"window": window_json(window), **report}).data)


@extend_schema(
    tags=[TAG],
    summary="Consultation volume, outcomes and timings (staff)",
    description=(
        "About the consultations scheduled to start in the window: a series per period, counts by "
        "type, state and the doctor's specialisation (a consultation counts once per specialisation), "
        "a weekday x hour heatmap of the local start time (all 168 cells, Monday = 0), completion, "
        "cancellation and no-show rates out of those with an outcome, the average duration of "
        "completed ones and the average wait in the waiting room. " + _ZONE_RULE + _WINDOW_RULE
    ),
    parameters=[s.WindowQuerySerializer],
    responses={200: s.ConsultationStatsSerializer},
)
class ConsultationStatsView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        query = s.WindowQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = window_from_query(request.user, query.validated_data)
        report = cached(
            "consultation-stats", {"window": window_json(window)}, lambda: overview.consultation_stats(window)
        )
        return ok(s.ConsultationStatsSerializer({"window": window_json(window), **report}).data)
