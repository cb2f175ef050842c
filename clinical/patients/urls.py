from django.urls import path

from clinical.patients import views

app_name = "patients"

_LIST = {"get": "list", "post": "create"}
_DETAIL = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

_COLLECTIONS = [
    ("conditions", views.ConditionViewSet, "condition"),
    ("allergies", views.AllergyViewSet, "allergy"),
    ("surgeries", views.SurgeryViewSet, "surgery"),
    ("family-history", views.FamilyHistoryViewSet, "family-history"),
    ("medications", views.MedicationViewSet, "medication"),
    ("insurance", views.InsuranceViewSet, "insurance"),
    ("emergency-contacts", views.EmergencyContactViewSet, "emergency-contact"),
    ("records", views.MedicalRecordViewSet, "record"),
    ("notes", views.PatientNoteViewSet, "note"),
]

urlpatterns = [
    path("", views.PatientViewSet.as_view({"get": "list"}), name="patient-list"),
    path("me/", views.MyProfileView.as_view(), name="me"),
    path(
        "<uuid:pk>/",
        views.PatientViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="patient-detail",
    ),
    path(
        "<uuid:patient_id>/documents/",
        views.DocumentViewSet.as_view({"get": "list", "post": "create"}),
        name="document-list",
    ),
    path(
        "<uuid:patient_id>/documents/<uuid:pk>/",
        views.DocumentViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="document-detail",
    ),
    path(
        "<uuid:patient_id>/documents/<uuid:pk>/download/",
        views.DocumentViewSet.as_view({"get": "download"}),
        name="document-download",
    ),
]

for prefix, viewset, name in _COLLECTIONS:
    urlpatterns += [
        path(f"<uuid:patient_id>/{prefix}/", viewset.as_view(_LIST), name=f"{name}-list"),
        path(f"<uuid:patient_id>/{prefix}/<int:pk>/", viewset.as_view(_DETAIL), name=f"{name}-detail"),
    ]
