"""Device registry at /api/notifications/devices/: the app registers where its pushes go.

- ``POST`` registers (or refreshes) this install's token: Android an FCM registration token, iOS an
  APNs device token (hex), web a Push API subscription (``endpoint`` and ``keys``, exactly what
  ``PushSubscription.toJSON()`` gives). A token is one install: registering a token another account
  had moves it to the caller (the phone changed hands), and a deactivated token becomes active again.
  Apps should register at every launch and whenever the platform hands them a new token.
- ``DELETE`` (at logout) stops pushes to one of the caller's own tokens; anyone else's answers 404.
- ``GET`` lists the caller's devices, deactivated ones with the reason, and the VAPID public key
  web clients subscribe with.
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from telehealth.api.responses import ok
from telehealth.notifications import services
from telehealth.notifications.models import Device, Platform
from telehealth.notifications.push.webpush import b64url_decode, endpoint_problem, vapid_public_key

# FCM registration tokens: URL-safe characters plus ":", in practice 150-200 long.
FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{32,4096}$")
# APNs device tokens are 32 bytes (64 hex digits) today; Apple warns the length may grow.
APNS_TOKEN = re.compile(r"^(?:[0-9a-fA-F]{2}){32,100}$")
ENDPOINT_MAX_LENGTH = 2048


class WebPushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(
        max_length=256, help_text="The subscription's P-256 public key, base64url (65 bytes, uncompressed)"
    )
    auth = serializers.CharField(
        max_length=64, help_text="The subscription's auth secret, base64url (16 bytes)"
    )

    def validate_p256dh(self, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
        except ValueError as exc:
            raise serializers.ValidationError(
                "Must be the base64url uncompressed P-256 public key of the subscription."
            ) from exc
        return value.strip()

    def validate_auth(self, value: str) -> str:
        try:
            raw = b64url_decode(value)
        except ValueError as exc:
            raise serializers.ValidationError("Must be base64url.") from exc
        if len(raw) != 16:
            raise serializers.ValidationError("Must be the 16-byte auth secret, base64url.")
        return value.strip()


class DeviceRegistrationSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Platform.choices)
    token = serializers.CharField(
        required=False,
        max_length=4096,
        help_text="android: the FCM registration token; ios: the APNs device token in hex. Not for web.",
    )
    endpoint = serializers.CharField(
        required=False,
        max_length=ENDPOINT_MAX_LENGTH,
        help_text="web only: the subscription's endpoint, an https URL of the browser's push service.",
    )
    keys = WebPushKeysSerializer(required=False, help_text="web only: the subscription's keys.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        platform = attrs["platform"]
        if platform == Platform.WEB:
            errors = {}
            if "token" in attrs:
                errors["token"] = ["Web subscriptions send endpoint and keys, not token."]
            if not attrs.get("endpoint"):
                errors["endpoint"] = ["Required for web."]
            elif problem := endpoint_problem(attrs["endpoint"]):
                errors["endpoint"] = [problem]
            if "keys" not in attrs:
                errors["keys"] = ["Required for web."]
            if errors:
                raise serializers.ValidationError(errors)
            attrs["registration"] = services.DeviceRegistration(
                platform=platform, token=attrs["endpoint"], web_push_keys=dict(attrs["keys"])
            )
            return attrs
        errors = {field: ["Only for web."] for field in ("endpoint", "keys") if field in attrs}
        token = attrs.get("token", "")
        if not token:
            errors["token"] = [f"Required for {platform}."]
        elif platform == Platform.ANDROID and not FCM_TOKEN.match(token):
            errors["token"] = ["Not an FCM registration token (32-4096 of A-Z a-z 0-9 _ : -)."]
        elif platform == Platform.IOS and not APNS_TOKEN.match(token):
            errors["token"] = ["Not an APNs device token (64 hexadecimal digits)."]
        if errors:
            raise serializers.ValidationError(errors)
        if platform == Platform.IOS:
            token = token.lower()  # one spelling per token, so re-registering finds the same row
        attrs["registration"] = services.DeviceRegistration(platform=platform, token=token)
        return attrs


class DeviceRemovalSerializer(serializers.Serializer):
    token = serializers.CharField(required=False, max_length=4096)
    endpoint = serializers.CharField(required=False, max_length=ENDPOINT_MAX_LENGTH)
    platform = serializers.ChoiceField(choices=Platform.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [attrs[name] for name in ("token", "endpoint") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError({"token": ["Send the token (or, for web, the endpoint)."]})
        token = given[0]
        platform = attrs.get("platform") or (Platform.WEB if attrs.get("endpoint") else None)
        if platform in (Platform.IOS, None) and APNS_TOKEN.match(token):
            token = token.lower()
        attrs["token"], attrs["platform"] = token, platform
        return attrs


class DeviceSerializer(serializers.ModelSerializer):
    token = serializers.CharField(read_only=True, help_text="The token; for web the subscription endpoint")

    class Meta:
        model = Device
        fields = ["id", "platform", "token", "active", "deactivated_reason", "created_at", "last_push_at"]
        read_only_fields = fields


class DeviceListSerializer(serializers.Serializer):
    devices = DeviceSerializer(many=True)
    web_push_public_key = serializers.CharField(
        allow_null=True,
        help_text="VAPID public key (base64url) for pushManager.subscribe({applicationServerKey}); "
        "null when Web Push is not configured",
    )


_TOKEN_PARAMETERS = [
    OpenApiParameter("token", OpenApiTypes.STR, description="The token to remove (web: the endpoint)"),
    OpenApiParameter("endpoint", OpenApiTypes.STR, description="web: the subscription endpoint"),
    OpenApiParameter("platform", OpenApiTypes.STR, enum=Platform.values, description="Narrows the match"),
]


@extend_schema(tags=["notifications"])
class DeviceView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="My push devices", responses={200: DeviceListSerializer})
    def get(self, request):
        devices = request.user.devices.order_by("-created_at", "-pk")
        return ok(
            {"devices": DeviceSerializer(devices, many=True).data, "web_push_public_key": vapid_public_key()}
        )

    @extend_schema(
        summary="Register this device for push",
        description=(
            "Idempotent: the same token again refreshes it (active again, moved to you if another "
            "account had it). Answers 201 with the device either way."
        ),
        request=DeviceRegistrationSerializer,
        responses={201: DeviceSerializer},
        examples=[
            OpenApiExample(
                "Android", value={"platform": "android", "token": "cX1...:APA91b..."}, request_only=True
            ),
            OpenApiExample("iOS", value={"platform": "ios", "token": "a1" * 32}, request_only=True),
            OpenApiExample(
                "Web",
                value={
                    "platform": "web",
                    "endpoint": "https://fcm.googleapis.com/fcm/send/dpH5...",
                    "keys": {"p256dh": "BNcRd...", "auth": "tBHI..."},
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        body = DeviceRegistrationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = services.register_device(request.user, body.validated_data["registration"])
        return ok(DeviceSerializer(device).data, status=201, message="Device registered for push.")

    @extend_schema(
        summary="Stop pushing to one of my devices",
        description="The token (web: the endpoint) in the query string or in a JSON body.",
        parameters=_TOKEN_PARAMETERS,
        request=None,
        responses={
            204: OpenApiResponse(description="Removed"),
            404: OpenApiResponse(description="Not yours"),
        },
    )
    def delete(self, request):
        body = DeviceRemovalSerializer(data=request.data or request.query_params)
        body.is_valid(raise_exception=True)
        removed = services.unregister_device(
            request.user, platform=body.validated_data["platform"], token=body.validated_data["token"]
        )
        if not removed:
            raise exceptions.NotFound("No such device among yours.")
        return Response(status=204)
