from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from telehealth.accounts.models import User
from telehealth.accounts.phone import mask_phone, normalize_phone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155552671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+91 98765 43210", "+919876543210"),
        ("0044 20 7946 0958".replace("0044", "+44"), "+442079460958"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


def test_national_numbers_use_the_default_region(settings):
    settings.PHONE_DEFAULT_REGION = "IN"
    assert normalize_phone("098765 43210") == "+919876543210"


def test_national_numbers_need_a_region(settings):
    settings.PHONE_DEFAULT_REGION = None
    with pytest.raises(ValidationError):
        normalize_phone("9876543210")


def test_mask_phone_hides_the_middle():
    assert mask_phone("+919876543210") == "+9198******10"


def test_create_user_normalises_and_has_no_password():
    user = User.objects.create_user("+1 415 555 2671")
    assert user.phone == "+14155552671"
    assert user.role == "patient"
    assert not user.has_usable_password()


def test_phone_is_unique():
    User.objects.create_user("+14155552671")
    with pytest.raises(ValidationError):
        User.objects.create_user("+1 415-555-2671")


def test_role_drives_django_staff_flags():
    admin = User.objects.create_user("+14155552672", role="admin")
    superadmin = User.objects.create_superuser("+14155552673", password="x-Strong-pass-42")
    assert (admin.is_staff, admin.is_superuser) == (True, False)
    assert (superadmin.is_staff, superadmin.is_superuser, superadmin.role) == (True, True, "superadmin")


def test_createsuperuser_works_with_a_phone_number(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x-Strong-pass-42")
    call_command("createsuperuser", "--noinput", "--phone", "+14155550100", stdout=StringIO())
    user = User.objects.get(phone="+14155550100")
    assert user.role == "superadmin"
    assert user.is_superuser
    assert user.check_password("x-Strong-pass-42")


def test_superadmin_can_log_in_to_django_admin(client):
    User.objects.create_superuser("+14155550101", password="x-Strong-pass-42")
    assert client.login(phone="+14155550101", password="x-Strong-pass-42")
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    assert b"+14155550101" in response.content
