"""/api/doctors/. Literal paths (``me/``, ``specialisations/``) come before the doctor-id paths;
doctor ids are user UUIDs, so they never collide."""

from django.urls import path

from clinical.doctors import views

app_name = "doctors"

_LIST = {"get": "list", "post": "create"}
_DETAIL = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

_MY_COLLECTIONS = [
    ("education", views.MyEducationViewSet, "education"),
    ("experience", views.MyExperienceViewSet, "experience"),
    ("availability-rules", views.MyAvailabilityRuleViewSet, "availability-rule"),
    ("availability-exceptions", views.MyAvailabilityExceptionViewSet, "availability-exception"),
]

urlpatterns = [
    path("", views.DoctorListView.as_view(), name="doctor-list"),
    path("specialisations/", views.SpecialisationListView.as_view(), name="specialisation-list"),
    path("languages/", views.LanguageListView.as_view(), name="language-list"),
    path("me/", views.MyProfileView.as_view(), name="doctor-me"),
    path("me/resubmit/", views.ResubmitView.as_view(), name="doctor-resubmit"),
    path("me/performance/", views.MyPerformanceView.as_view(), name="doctor-my-performance"),
    path(
        "me/verification-documents/",
        views.MyVerificationDocumentsView.as_view(),
        name="doctor-my-verification-documents",
    ),
    path(
        "me/verification-documents/<uuid:document_id>/download/",
        views.MyVerificationDocumentDownloadView.as_view(),
        name="doctor-my-verification-document-download",
    ),
    *[
        route
        for prefix, viewset, name in _MY_COLLECTIONS
        for route in (
            path(f"me/{prefix}/", viewset.as_view(_LIST), name=f"my-{name}-list"),
            path(f"me/{prefix}/<int:pk>/", viewset.as_view(_DETAIL), name=f"my-{name}-detail"),
        )
    ],
    path("<uuid:doctor_id>/", views.DoctorDetailView.as_view(), name="doctor-detail"),
    path("<uuid:doctor_id>/verify/", views.VerifyDoctorView.as_view(), name="doctor-verify"),
    path("<uuid:doctor_id>/reject/", views.RejectDoctorView.as_view(), name="doctor-reject"),
    path(
        "<uuid:doctor_id>/available-slots/", views.AvailableSlotsView.as_view(), name="doctor-available-slots"
    ),
    path("<uuid:doctor_id>/reviews/", views.DoctorReviewsView.as_view(), name="doctor-reviews"),
    path("<uuid:doctor_id>/performance/", views.DoctorPerformanceView.as_view(), name="doctor-performance"),
    path(
        "<uuid:doctor_id>/verification-documents/",
        views.DoctorVerificationDocumentsView.as_view(),
        name="doctor-verification-documents",
    ),
    path(
        "<uuid:doctor_id>/verification-documents/<uuid:document_id>/download/",
        views.DoctorVerificationDocumentDownloadView.as_view(),
        name="doctor-verification-document-download",
    ),
]
