"""Test-only URLconf: the real one plus views that crash, to exercise the 500 paths."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telehealth.urls import handler400, handler403, handler404, handler500
from telehealth.urls import urlpatterns as real_urlpatterns

SECRET_MESSAGE = "db password is hunter2 at 10.0.0.7"


class CrashingAPIView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError(SECRET_MESSAGE)


class HandMadeErrorView(APIView):
    """Returns an error status itself instead of raising: the renderer must still wrap it."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        return Response({"slot": ["Already booked."]}, status=409)


def crashing_django_view(request):
    raise RuntimeError(SECRET_MESSAGE)


urlpatterns = [
    # Before the real patterns: /api/ ends with a catch-all.
    path("api/test-crash/", CrashingAPIView.as_view()),
    path("api/test-hand-made-error/", HandMadeErrorView.as_view()),
    path("test-crash-plain/", crashing_django_view),
    *real_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
