from django.urls import path

from telehealth.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.AuditEntryViewSet.as_view({"get": "list"}), name="entry-list"),
    path("<int:pk>/", views.AuditEntryViewSet.as_view({"get": "retrieve"}), name="entry-detail"),
]
