"""The payments admin: every page renders for a superuser, and money rows cannot be edited there."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from payments.models import Coupon, Payment, StripeCustomer
from tests.payments.conftest import FEE, deliver

pytestmark = pytest.mark.django_db

PAYMENT_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label == "payments"),
    key=lambda model: model._meta.model_name,
)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def books(paid, patient):
    Coupon.objects.create(code="WELCOME", kind="percent", value=10)
    StripeCustomer.objects.create(user=patient, customer_id="cus_1")
    deliver("refund.succeeded", paid, refund_id="re_1", amount=1_000)
    deliver("dispute.opened", paid, dispute_id="dp_1", amount=FEE - 1_000)
    return paid


@pytest.fixture
def admin_client(superadmin) -> Client:
    client = Client()
    client.force_login(superadmin)
    return client


def test_every_payments_page_renders(books, admin_client):
    empty = [model._meta.model_name for model in PAYMENT_MODELS if not model.objects.exists()]
    assert empty == ["couponredemption"]  # the one model this story leaves empty
    pages = {
        model._meta.model_name: [
            admin_client.get(admin_url(model, "changelist")).status_code,
            *(
                admin_client.get(admin_url(model, "change", row.pk)).status_code
                for row in model.objects.all()[:1]
            ),
        ]
        for model in PAYMENT_MODELS
    }
    assert {name: codes for name, codes in pages.items() if set(codes) != {200}} == {}


def test_payments_cannot_be_edited_by_hand(books, admin_client):
    response = admin_client.post(admin_url(Payment, "change", books.pk), {"status": "refunded"})

    assert response.status_code == 403
    books.refresh_from_db()
    assert books.status == "disputed"
