"""Test-only URLconf: small views that adopt ``IdempotentPostMixin`` and count their runs."""

from __future__ import annotations

import threading

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telehealth.api.responses import ok
from telehealth.idempotency.drf import IdempotentPostMixin


class Runs:
    """What the views did: how often they ran, and switches that make the next run fail or wait."""

    lock = threading.Lock()
    count = 0
    crash_next = False
    answer_503_next = False
    entered = threading.Event()
    release = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.count = 0
        cls.crash_next = False
        cls.answer_503_next = False
        cls.entered = threading.Event()
        cls.release = threading.Event()

    @classmethod
    def record(cls) -> int:
        with cls.lock:
            cls.count += 1
            return cls.count


class ChargeSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    note = serializers.CharField(required=False)


class ChargeView(IdempotentPostMixin, APIView):
    """POST runs a "charge"; GET is untouched by the mixin."""

    @extend_schema(responses={200: ChargeSerializer})
    def get(self, request):
        return ok({"amount": 0})

    @extend_schema(request=ChargeSerializer, responses={201: ChargeSerializer})
    def post(self, request):
        run = Runs.record()
        if Runs.crash_next:
            Runs.crash_next = False
            raise RuntimeError("gateway exploded")
        if Runs.answer_503_next:
            Runs.answer_503_next = False
            return Response({"detail": "Gateway down."}, status=503)
        serializer = ChargeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok({**serializer.data, "run": run}, message="Charged.", status=201)


class SlowChargeView(IdempotentPostMixin, APIView):
    """Waits until the test lets it finish: holds its key in progress meanwhile."""

    @extend_schema(request=ChargeSerializer, responses={201: ChargeSerializer})
    def post(self, request):
        run = Runs.record()
        Runs.entered.set()
        assert Runs.release.wait(timeout=30), "the test never released the slow view"
        return ok({"run": run}, status=201)


class AnonymousChargeView(ChargeView):
    permission_classes = [AllowAny]
    authentication_classes: list = []


class StrictChargeView(ChargeView):
    idempotency_key_required = True


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    title = serializers.CharField()


class UploadView(IdempotentPostMixin, APIView):
    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: None})
    def post(self, request):
        run = Runs.record()
        return ok({"run": run, "size": request.data["file"].size}, status=201)


@extend_schema(tags=["test-idem"])  # a class-level annotation keeps the mixin's schema
class ChargeViewSet(IdempotentPostMixin, viewsets.ViewSet):
    @extend_schema(responses={200: ChargeSerializer(many=True)})
    def list(self, request):
        return ok([])

    @extend_schema(summary="Make a charge", request=ChargeSerializer, responses={201: ChargeSerializer})
    def create(self, request):
        return ok({"run": Runs.record()}, status=201)

    @extend_schema(request=None, responses={200: None})
    @action(detail=False, methods=["post"])
    def refund(self, request):
        return ok({"run": Runs.record()})


urlpatterns = [
    path("api/test-idem/charge/", ChargeView.as_view()),
    path("api/test-idem/charge-again/", ChargeView.as_view()),
    path("api/test-idem/slow/", SlowChargeView.as_view()),
    path("api/test-idem/anonymous/", AnonymousChargeView.as_view()),
    path("api/test-idem/strict/", StrictChargeView.as_view()),
    path("api/test-idem/upload/", UploadView.as_view()),
    path("api/test-idem/viewset/", ChargeViewSet.as_view({"get": "list", "post": "create"})),
    path("api/test-idem/viewset/refund/", ChargeViewSet.as_view({"post": "refund"})),
]
