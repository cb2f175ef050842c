"""Which backend pushes to a device: ``get_backend(device.platform)``.

``PUSH_BACKEND=console`` (default) sends every platform to the console backend;
``PUSH_BACKEND=live`` sends Android to FCM, iOS to APNs and web to Web Push. Backend classes are
named by dotted path in ``settings.PUSH_BACKEND_CLASSES`` and built on first use, so a missing
provider setting raises ``ImproperlyConfigured`` when that platform is first pushed to, and a
deployment without iOS needs no APNs settings. Built backends are kept per process (they hold
connections and access tokens) and dropped when a push setting changes (tests).
Tests swap in their own backend with ``override_backend``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from telehealth.notifications.models import Platform
from telehealth.notifications.push.base import Outcome, PushBackend, PushMessage, PushResult

__all__ = [
    "Outcome",
    "PushBackend",
    "PushMessage",
    "PushResult",
    "backend_name",
    "get_backend",
    "override_backend",
    "reset_backends",
]

LIVE_BACKENDS = {Platform.ANDROID: "fcm", Platform.IOS: "apns", Platform.WEB: "webpush"}
_PUSH_SETTING_PREFIXES = ("PUSH_", "FCM_", "APNS_", "VAPID_", "WEB_PUSH_")

_overrides: dict[str, PushBackend] = {}
_built: dict[str, PushBackend] = {}
_lock = threading.Lock()


def backend_name(platform: str) -> str:
    """The backend that pushes to ``platform`` under the current ``PUSH_BACKEND``."""
    if platform not in LIVE_BACKENDS:
        raise ValueError(f"Unknown device platform {platform!r}")
    if settings.PUSH_BACKEND == "console":
        return "console"
    return LIVE_BACKENDS[Platform(platform)]


def get_backend(platform: str) -> PushBackend:
    """The backend for devices of ``platform``; raises ImproperlyConfigured if it lacks settings."""
    if platform in _overrides:
        return _overrides[platform]
    name = backend_name(platform)
    with _lock:
        backend = _built.get(name)
        if backend is None:
            path = settings.PUSH_BACKEND_CLASSES.get(name)
            if path is None:
                raise ImproperlyConfigured(f"PUSH_BACKEND_CLASSES has no {name!r} backend.")
            backend = _built[name] = import_string(path)()
    return backend


@contextmanager
def override_backend(backend: PushBackend, *platforms: str) -> Iterator[PushBackend]:
    """Push to ``platforms`` (default: all) through ``backend`` inside the block."""
    platforms = platforms or tuple(LIVE_BACKENDS)
    previous = {p: _overrides.get(p) for p in platforms}
    _overrides.update(dict.fromkeys(platforms, backend))
    try:
        yield backend
    finally:
        for platform, before in previous.items():
            if before is None:
                _overrides.pop(platform, None)
            else:
                _overrides[platform] = before


def reset_backends() -> None:
    """Close and forget every built backend; the next push builds them from current settings."""
    with _lock:
        built = list(_built.values())
        _built.clear()
    for backend in built:
        backend.close()


@receiver(setting_changed, dispatch_uid="notifications.push.settings")
def _push_setting_changed(setting: str, **kwargs) -> None:
    if setting.startswith(_PUSH_SETTING_PREFIXES):
        reset_backends()
