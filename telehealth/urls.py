from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from signaling.views import AsyncAPIView
from telehealth import health
from telehealth.accounts.views import AccountViewSet
from telehealth.api.views import api_not_found

router = SimpleRouter()
router.register("users", AccountViewSet, basename="account")

api_patterns = [
    path("auth/", include("telehealth.accounts.urls")),
    path("patients/", include("clinical.patients.urls")),
    path("doctors/", include("clinical.doctors.urls")),
    path("consultations/", include("clinical.consultations.urls")),
    path("prescriptions/", include("clinical.prescriptions.urls")),
    path("eclinic/", include("clinical.clinics.urls")),
    path("audit/", include("telehealth.audit.urls")),
    path("payments/", include("payments.urls")),
    path("notifications/", include("telehealth.notifications.urls")),
    path("analytics/", include("analytics.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("asyncapi/", AsyncAPIView.as_view(), name="asyncapi"),
    *router.urls,
    # Must stay last: unknown /api/ paths answer in the envelope even in DEBUG.
    re_path(r"^.*$", api_not_found),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboard/", include("analytics.dashboard")),  # staff dashboard page (server-rendered)
    path("api/", include(api_patterns)),
    path("health/", health.LivenessView.as_view(), name="health"),
    path("health/database/", health.DatabaseHealthView.as_view(), name="health-database"),
    path("health/redis/", health.RedisHealthView.as_view(), name="health-redis"),
    path("health/detailed/", health.DetailedHealthView.as_view(), name="health-detailed"),
]

handler400 = "telehealth.api.views.bad_request"
handler403 = "telehealth.api.views.permission_denied"
handler404 = "telehealth.api.views.not_found"
handler500 = "telehealth.api.views.server_error"
