"""Health checks for load balancers and operators. An unhealthy dependency answers 503 with the
reason; Redis reports "not_configured" when the embedded defaults are in use."""

from __future__ import annotations

import asyncio
import platform
import time
import uuid
from typing import Any

import channels
import django
import rest_framework
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telehealth.api import error_codes
from telehealth.api.envelope import error_body
from telehealth.api.responses import ok

OK = "ok"
NOT_CONFIGURED = "not_configured"

_check_schema = inline_serializer(
    "HealthCheck",
    {
        "status": serializers.CharField(),
        "checks": serializers.DictField(child=serializers.DictField(), required=False),
    },
)


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "vendor": connection.vendor, "latency_ms": _ms(started)}


def check_redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": NOT_CONFIGURED}
    import redis

    started = time.perf_counter()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"status": OK, "latency_ms": _ms(started)}


def check_channel_layer() -> dict[str, Any]:
    """Send a message to a fresh channel and read it back through the configured layer."""
    layer = get_channel_layer()
    started = time.perf_counter()

    async def round_trip() -> bool:
        channel = await layer.new_channel("health.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.ping", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return message.get("token") == token

    if not async_to_sync(round_trip)():
        raise RuntimeError("channel layer returned a different message")
    return {"status": OK, "backend": type(layer).__name__, "latency_ms": _ms(started)}


def check_celery() -> dict[str, Any]:
    from telehealth.celery import app

    if app.conf.task_always_eager:
        return {"status": NOT_CONFIGURED, "mode": "eager"}
    started = time.perf_counter()
    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping within 1s")
    return {"status": OK, "workers": len(replies), "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _run(checks: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    failed: list[str] = []
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports failures; it never raises
            results[name] = {"status": "unhealthy", "reason": f"{type(exc).__name__}: {exc}"[:300]}
            failed.append(name)
    return results, failed


def _answer(checks: dict[str, Any], extra: dict[str, Any] | None = None) -> Response:
    results, failed = _run(checks)
    if failed:
        body = error_body(
            error_codes.SERVICE_UNAVAILABLE,
            f"Unhealthy: {', '.join(failed)}.",
            {"checks": results},
        )
        return Response(body, status=503)
    return ok({"status": OK, "checks": results, **(extra or {})})


class _HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []


class LivenessView(_HealthView):
    @extend_schema(tags=["health"], summary="Liveness: the process answers", responses={200: _check_schema})
    def get(self, request):
        return ok({"status": OK})


class DatabaseHealthView(_HealthView):
    @extend_schema(
        tags=["health"],
        summary="Database reachable",
        responses={200: _check_schema, 503: OpenApiResponse(description="Database unreachable")},
    )
    def get(self, request):
        return _answer({"database": check_database})


class RedisHealthView(_HealthView):
    @extend_schema(
        tags=["health"],
        summary="Redis reachable (or not configured)",
        responses={200: _check_schema, 503: OpenApiResponse(description="Redis unreachable")},
    )
    def get(self, request):
        return _answer({"redis": check_redis})


class DetailedHealthView(_HealthView):
    @extend_schema(
        tags=["health"],
        summary="Every dependency, with versions",
        responses={200: _check_schema, 503: OpenApiResponse(description="A dependency is unhealthy")},
    )
    def get(self, request):
        versions = {
            "app": settings.APP_VERSION,
            "python": platform.python_version(),
            "django": django.get_version(),
            "channels": channels.__version__,
            "djangorestframework": rest_framework.VERSION,
        }
        return _answer(
            {
                "database": check_database,
                "redis": check_redis,
                "channel_layer": check_channel_layer,
                "celery": check_celery,
            },
            {"versions": versions},
        )
