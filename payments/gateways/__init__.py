"""Which gateway to use: ``get_gateway("stripe")``, or ``get_gateway()`` for the default
(``PAYMENT_DEFAULT_GATEWAY``).

Gateway classes are named by dotted path in ``settings.PAYMENT_GATEWAY_CLASSES`` and imported on
first use, so a provider SDK is loaded only when that provider is used. Each class is constructed
with no arguments and reads its own settings (keys, API base). Tests swap in fakes with
``override_gateway`` (or by pointing the setting at another class).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from payments.gateways.base import Gateway

_overrides: dict[str, Gateway] = {}


def gateway_names() -> list[str]:
    """Every gateway that can be asked for by name."""
    return sorted(set(_gateway_classes()) | set(_overrides))


def get_gateway(name: str | None = None) -> Gateway:
    """The gateway called ``name`` (default: ``PAYMENT_DEFAULT_GATEWAY``)."""
    name = name or settings.PAYMENT_DEFAULT_GATEWAY
    if name in _overrides:
        return _overrides[name]
    path = _gateway_classes().get(name)
    if path is None:
        raise ImproperlyConfigured(f"No payment gateway called {name!r}; known: {gateway_names()}")
    return import_string(path)()


@contextmanager
def override_gateway(name: str, gateway: Gateway) -> Iterator[Gateway]:
    """Use ``gateway`` (an instance, e.g. a fake that records calls) for ``name`` inside the block."""
    previous = _overrides.get(name)
    _overrides[name] = gateway
    try:
        yield gateway
    finally:
        if previous is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = previous


def _gateway_classes() -> dict[str, str]:
    return settings.PAYMENT_GATEWAY_CLASSES
