"""Android pushes through Firebase Cloud Messaging's HTTP v1 API.

``POST {FCM_API_BASE}/v1/projects/{project}/messages:send`` with an OAuth2 access token that
google-auth obtains from the service account (``FCM_CREDENTIALS``) at the credentials'
``token_uri``, caches until it expires, and refreshes once on a 401.

Only answers that name the token deactivate the device (``UNREGISTERED``, ``SENDER_ID_MISMATCH``,
``INVALID_ARGUMENT`` about ``message.token``): an ``INVALID_ARGUMENT`` about the payload, or a 404
for a wrong project, is our mistake and must not switch off every Android device.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from telehealth.notifications.models import Device
from telehealth.notifications.push.base import (
    PushBackend,
    PushMessage,
    PushResult,
    inline_or_file,
    retry_after_seconds,
    short,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_DEAD_TOKEN_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


def _service_account_info(credentials: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(credentials, dict):
        return credentials
    text = inline_or_file(credentials, setting="FCM_CREDENTIALS", inline_marker="{")
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"FCM_CREDENTIALS is not a service-account JSON: {exc}") from exc
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ImproperlyConfigured(
            'FCM_CREDENTIALS must be a service-account JSON ("type": "service_account").'
        )
    return info


def _data_strings(data: dict[str, Any]) -> dict[str, str]:
    """FCM data values must be strings: strings stay, anything else is sent as JSON."""
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in data.items()
    }


class FCMBackend(PushBackend):
    name = "fcm"

    def __init__(
        self,
        *,
        credentials: str | dict[str, Any] | None = None,
        project_id: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
    ) -> None:
        raw = credentials if credentials is not None else settings.FCM_CREDENTIALS
        if not raw:
            raise ImproperlyConfigured(
                "PUSH_BACKEND=live sends Android pushes through FCM and needs FCM_CREDENTIALS "
                "(the Firebase service-account JSON, or the path of its file)."
            )
        info = _service_account_info(raw)
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2 import service_account

        try:
            scoped = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"FCM_CREDENTIALS is not a usable service account: {exc}") from exc
        self.project_id = project_id or settings.FCM_PROJECT_ID or info.get("project_id") or ""
        if not self.project_id:
            raise ImproperlyConfigured(
                "FCM needs a project: set FCM_PROJECT_ID or use credentials with project_id."
            )
        base = (api_base or settings.FCM_API_BASE).rstrip("/")
        self.url = f"{base}/v1/projects/{self.project_id}/messages:send"
        self.timeout = timeout or settings.PUSH_TIMEOUT_SECONDS
        self.session = AuthorizedSession(scoped, refresh_timeout=self.timeout)

    def payload(self, device: Device, message: PushMessage) -> dict[str, Any]:
        notification = {"title": message.title}
        if message.body:
            notification["body"] = message.body
        return {
            "message": {
                "token": device.token,
                "notification": notification,
                "data": _data_strings(message.data),
                "android": {
                    # Every push here is a user-visible alert, which FCM allows at high priority.
                    "priority": "HIGH",
                    "ttl": f"{message.ttl_seconds()}s",
                    "collapse_key": message.collapse_id,
                    "notification": {"tag": message.collapse_id},
                },
            }
        }

    def send(self, device: Device, message: PushMessage) -> PushResult:
        from google.auth import exceptions as auth_errors

        try:
            response = self.session.post(self.url, json=self.payload(device, message), timeout=self.timeout)
        except auth_errors.RefreshError as exc:
            if getattr(exc, "retryable", False):
                return PushResult.retry(f"FCM token endpoint: {short(exc)}")
            return PushResult.failed(f"FCM credentials refused: {short(exc)}")
        except (auth_errors.TransportError, requests.RequestException) as exc:
            return PushResult.retry(f"FCM unreachable: {type(exc).__name__}")
        if response.status_code == 200:
            return PushResult.sent(short(_json(response).get("name", "")))
        return self._failure(response)

    def close(self) -> None:
        self.session.close()

    def _failure(self, response: requests.Response) -> PushResult:
        error = _json(response).get("error")
        error = error if isinstance(error, dict) else {}
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        fcm_code = next((d.get("errorCode") for d in details if d.get("@type") == _FCM_ERROR_TYPE), None)
        status = fcm_code or error.get("status") or ""
        detail = short(f"FCM {response.status_code} {status}: {error.get('message', '')}")
        if fcm_code in _DEAD_TOKEN_CODES:
            return PushResult.invalid_token(detail)
        if status == "INVALID_ARGUMENT" and _about_the_token(error, details):
            return PushResult.invalid_token(detail)
        if response.status_code == 429 or response.status_code >= 500:
            return PushResult.retry(
                detail, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        return PushResult.failed(detail)


def _about_the_token(error: dict[str, Any], details: list[dict[str, Any]]) -> bool:
    for detail in details:
        if detail.get("@type") == _BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if isinstance(violation, dict) and violation.get("field") == "message.token":
                    return True
    return "registration token" in str(error.get("message", "")).lower()


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
