from django.urls import path

from clinical.consultations import views

consultations = views.ConsultationViewSet.as_view({"get": "list", "post": "create"})
consultation = views.ConsultationViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("", consultations, name="consultation-list"),
    path("timeline/", views.TimelineView.as_view(), name="consultation-timeline"),
    path("<uuid:pk>/", consultation, name="consultation-detail"),
    path(
        "<uuid:pk>/cancel/",
        views.ConsultationViewSet.as_view({"post": "cancel"}),
        name="consultation-cancel",
    ),
    path(
        "<uuid:pk>/reschedule/",
        views.ConsultationViewSet.as_view({"post": "reschedule"}),
        name="consultation-reschedule",
    ),
    path(
        "<uuid:pk>/transition/",
        views.ConsultationViewSet.as_view({"post": "transition"}),
        name="consultation-transition",
    ),
    path("<uuid:pk>/notes/", views.ConsultationNotesView.as_view(), name="consultation-notes"),
    path("<uuid:pk>/vitals/", views.ConsultationVitalsView.as_view(), name="consultation-vitals"),
]
