"""``/api/eclinic/``. In-clinic booking is ``POST /api/consultations/`` (type ``in_clinic``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from clinical.clinics import views

router = SimpleRouter()
router.register("", views.ClinicViewSet, basename="clinic")

CLINIC = "<int:clinic_id>/"

urlpatterns = [
    path("mine/", views.MyClinicsView.as_view(), name="clinic-mine"),
    path(
        f"{CLINIC}members/",
        views.ClinicMemberViewSet.as_view({"get": "list", "post": "create"}),
        name="clinic-members",
    ),
    path(
        f"{CLINIC}members/<int:pk>/",
        views.ClinicMemberViewSet.as_view({"delete": "destroy"}),
        name="clinic-member-detail",
    ),
    path(
        f"{CLINIC}services/",
        views.ClinicServiceViewSet.as_view({"get": "list", "post": "create"}),
        name="clinic-services",
    ),
    path(
        f"{CLINIC}services/<int:pk>/",
        views.ClinicServiceViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="clinic-service-detail",
    ),
    path(
        f"{CLINIC}inventory/",
        views.InventoryViewSet.as_view({"get": "list", "post": "create"}),
        name="clinic-inventory",
    ),
    path(
        f"{CLINIC}inventory/<int:pk>/",
        views.InventoryViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="clinic-inventory-detail",
    ),
    path(
        f"{CLINIC}inventory/<int:pk>/adjust/",
        views.InventoryViewSet.as_view({"post": "adjust"}),
        name="clinic-inventory-adjust",
    ),
    path(
        f"{CLINIC}reviews/",
        views.ClinicReviewViewSet.as_view({"get": "list", "post": "create"}),
        name="clinic-reviews",
    ),
    path(f"{CLINIC}appointments/", views.ClinicAppointmentListView.as_view(), name="clinic-appointments"),
    *router.urls,
]
