"""The notification inbox at /api/notifications/: every user sees only their own notifications.

Another user's notification id answers 404 like an unknown one, so ids reveal nothing.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from telehealth.api.responses import ok
from telehealth.notifications import services
from telehealth.notifications.filters import NotificationFilter
from telehealth.notifications.serializers import (
    MarkedSerializer,
    MarkReadSerializer,
    NotificationSerializer,
    UnreadCountSerializer,
)


@extend_schema_view(
    list=extend_schema(
        summary="My notifications",
        description="Newest first. `unread=true`: unread only; `after_id`: what came after a given one.",
    ),
    retrieve=extend_schema(summary="One of my notifications"),
)
@extend_schema(tags=["notifications"])
class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = NotificationFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return services.Notification.objects.none()
        return services.inbox_of(self.request.user)

    @extend_schema(summary="Mark one notification read", request=None, responses={200: MarkedSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        marked = services.mark_read(request.user, [notification.pk])
        return ok({"marked": marked, "unread": services.unread_count(request.user)})

    @extend_schema(
        summary="Mark several notifications read",
        request=MarkReadSerializer,
        responses={200: MarkedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request):
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.mark_read(request.user, body.validated_data["ids"])
        return ok({"marked": marked, "unread": services.unread_count(request.user)})

    @extend_schema(summary="Mark all my notifications read", request=None, responses={200: MarkedSerializer})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = services.mark_all_read(request.user)
        return ok({"marked": marked, "unread": 0})

    @extend_schema(summary="How many unread", responses={200: UnreadCountSerializer})
    @action(detail=False, methods=["get"], url_path="unread-count", filterset_class=None)
    def unread_count(self, request):
        return ok(
            {"unread": services.unread_count(request.user), "latest_id": services.latest_id(request.user.pk)}
        )
