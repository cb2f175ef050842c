from django.urls import path
from rest_framework.routers import SimpleRouter

from clinical.prescriptions.views import MedicationViewSet, PrescriptionViewSet, VerifyPrescriptionView

router = SimpleRouter()
router.register("medications", MedicationViewSet, basename="prescriptions-medication")
router.register("", PrescriptionViewSet, basename="prescription")

urlpatterns = [
    path("verify/<str:code>/", VerifyPrescriptionView.as_view(), name="prescriptions-verify"),
    *router.urls,
]
