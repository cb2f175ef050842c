"""Choosing a gateway, and the payment settings read from the environment."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from payments.gateways import get_gateway, override_gateway
from payments.gateways.base import Gateway
from tests.payments.fake_gateway import FakeGateway
from tests.test_settings import load_settings


def test_the_default_gateway_comes_from_settings(settings, fake_gateways):
    settings.PAYMENT_DEFAULT_GATEWAY = "razorpay"

    assert get_gateway() is fake_gateways["razorpay"]
    assert get_gateway("payu") is fake_gateways["payu"]


def test_gateway_classes_are_named_in_settings(settings):
    settings.PAYMENT_GATEWAY_CLASSES = {"stripe": "tests.payments.fake_gateway.FakeGateway"}

    gateway = get_gateway("stripe")

    assert isinstance(gateway, FakeGateway)
    assert get_gateway("stripe") is not gateway  # built per use, reading settings each time


def test_an_unknown_gateway_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="bitcoin"):
        get_gateway("bitcoin")


def test_an_override_ends_with_its_block(settings):
    settings.PAYMENT_GATEWAY_CLASSES = {"stripe": "tests.payments.fake_gateway.FakeGateway"}
    fake = FakeGateway()

    with override_gateway("stripe", fake):
        assert get_gateway("stripe") is fake
    assert get_gateway("stripe") is not fake


@pytest.mark.parametrize("name", ["stripe", "razorpay", "payu"])
def test_every_configured_gateway_implements_the_interface(settings, name):
    cls = import_string(settings.PAYMENT_GATEWAY_CLASSES[name])

    assert issubclass(cls, Gateway)
    assert cls.name == name


def test_payment_settings_defaults(monkeypatch):
    s = load_settings(monkeypatch)

    assert s.PAYMENT_DEFAULT_GATEWAY == "stripe"
    assert s.PLATFORM_FEE_PERCENT == Decimal("15")
    assert s.PAYMENT_PENDING_EXPIRY_MINUTES == 30
    assert s.STRIPE_SECRET_KEY == s.RAZORPAY_KEY_SECRET == s.PAYU_MERCHANT_SALT == ""
    assert s.STRIPE_WEBHOOK_TOLERANCE_SECONDS == 300
    assert s.PAYU_CHECKOUT_URL == "https://test.payu.in/_payment"
    assert s.PAYU_API_BASE == "https://test.payu.in"
    assert s.CELERY_TASK_ROUTES["payments.*"] == {"queue": "default"}


def test_platform_fee_may_have_decimals(monkeypatch):
    assert load_settings(monkeypatch, PLATFORM_FEE_PERCENT="12.5").PLATFORM_FEE_PERCENT == Decimal("12.5")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLATFORM_FEE_PERCENT", "fifteen"),
        ("PLATFORM_FEE_PERCENT", "101"),
        ("PLATFORM_FEE_PERCENT", "-1"),
        ("PLATFORM_FEE_PERCENT", "NaN"),
        ("PAYMENT_DEFAULT_GATEWAY", "paypal"),
        ("PAYMENT_PENDING_EXPIRY_MINUTES", "0"),
    ],
)
def test_bad_payment_settings_stop_start_up(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})
