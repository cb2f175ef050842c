"""Helpers of the dashboard's browser test: a seeded data set and headless Chromium.

Seeding runs in a child process (``python -m tests.analytics.browser seed``) with the live server's
environment, so the rows land in the database daphne reads on both configurations: the test's own
PostgreSQL database, or on SQLite the server's database file (the test's SQLite database is in
memory and daphne cannot see it). It prints what the test needs to know as JSON.

Chromium is Debian's ``chromium`` driven through its own ``chromium-driver`` (same version, same
package source), with Selenium. ``make test`` and ``.ci/run`` install both; the test fails, never
skips, when they are missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run `make test` (it installs them) or, as root, `apt-get install -y chromium chromium-driver`"

# --- The data set ------------------------------------------------------------------------------------

ZONE = "Asia/Kolkata"
STAFF_PHONE = "+919811100001"
STAFF_PASSWORD = "dashboard-test-password-7c1e"
# (country, state, city, currency of its doctors)
PLACES = [
    ("IN", "Karnataka", "Bengaluru", "INR"),
    ("IN", "Maharashtra", "Mumbai", "INR"),
    ("IN", "Maharashtra", "Pune", "INR"),
    ("US", "Texas", "Austin", "USD"),
]
# Local hours of the consultations, and the states they cycle through.
HOURS = [9, 10, 11, 13, 15, 16, 18, 20]
STATES = ["completed", "completed", "completed", "cancelled", "completed", "no_show", "rescheduled"]
PATIENTS_PER_PLACE = 4
FEES = {"INR": 50_000, "USD": 4_000}


def seed_dashboard_data() -> dict[str, Any]:
    """Patients, doctors (two awaiting verification), clinics in four cities, consultations in
    several states over the last three weeks at various local hours, payments in INR and USD with
    refunds, reviews, and a staff admin in Asia/Kolkata who logs in with a password."""
    from django.db import transaction
    from django.utils import timezone

    from clinical.models import Clinic, ClinicMember, PatientProfile, Review, Specialisation
    from payments.models import LedgerKind, Payment, PayoutLedgerEntry, Refund
    from telehealth.accounts.models import User
    from telehealth.accounts.services import issue_tokens
    from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory, phone_number

    zone = ZoneInfo(ZONE)
    now = timezone.now()
    today = now.astimezone(zone).date()

    def local(days_ago: int, hour: int, minute: int = 0) -> datetime:
        moment = datetime.combine(today - timedelta(days=days_ago), time(hour, minute), tzinfo=zone)
        return min(moment, now - timedelta(minutes=1)).astimezone(UTC)

    with transaction.atomic():
        staff = User.objects.create_user(
            STAFF_PHONE, STAFF_PASSWORD, role="admin", first_name="Ada", timezone=ZONE
        )
        specialisations = [
            Specialisation.objects.get_or_create(slug=slug, defaults={"name": name})[0]
            for slug, name in [
                ("cardiology", "Cardiology"),
                ("dermatology", "Dermatology"),
                ("general-medicine", "General medicine"),
            ]
        ]
        serial = iter(range(1, 10_000))
        doctors, patients = [], []
        for index, (country, state, city, currency) in enumerate(PLACES):
            address = {"country": country, "state": state, "city": city}
            clinic = Clinic.objects.create(
                name=f"{city} Care",
                created_by=staff,
                verification_status="verified",
                created_at=now - timedelta(days=90),
                **address,
            )
            for pending in (False, index % 2 == 1):
                profile = DoctorProfileFactory(
                    user=UserFactory(phone=phone_number(next(serial)), role="doctor"),
                    fee_amount=FEES[currency],
                    fee_currency=currency,
                    verification_status="pending" if pending else "verified",
                )
                profile.specialisations.add(specialisations[index % len(specialisations)])
                ClinicMember.objects.create(clinic=clinic, user=profile.user, role="doctor")
                User.objects.filter(pk=profile.user_id).update(date_joined=local(20 + index, 10))
                if not pending:
                    doctors.append((profile.user, clinic, currency))
            for n in range(PATIENTS_PER_PLACE):
                patient = UserFactory(phone=phone_number(next(serial)), role="patient")
                PatientProfile.objects.create(user=patient, **address)
                # Sign-ups spread over the window, at various hours.
                User.objects.filter(pk=patient.pk).update(date_joined=local(3 * n + index, 8 + 3 * n))
                patients.append(patient)

        slots: set[tuple[int, int]] = set()
        consultations = 0
        references = iter(range(1, 10_000))
        for i in range(36):
            doctor, clinic, currency = doctors[i % len(doctors)]
            patient = patients[(i * 5) % len(patients)]
            start = local(days_ago=(i * 5) % 23 + 1, hour=HOURS[i % len(HOURS)], minute=(i % 2) * 30)
            state = STATES[i % len(STATES)]
            fields: dict[str, Any] = {}
            if state == "completed":
                fields = {
                    "waiting_since": start - timedelta(minutes=3),
                    "started_at": start + timedelta(minutes=2 + i % 5),
                    "ended_at": start + timedelta(minutes=20 + i % 10),
                }
            consultation = ConsultationFactory(
                patient=patient,
                doctor=doctor,
                state=state,
                type="in_clinic" if i % 6 == 0 else "video",
                clinic=clinic if i % 6 == 0 else None,
                scheduled_start=start,
                duration_minutes=30,
                fee_amount=FEES[currency],
                fee_currency=currency,
                created_at=start - timedelta(days=2),
                **fields,
            )
            consultations += 1
            local_start = start.astimezone(zone)
            slots.add((local_start.weekday(), local_start.hour))
            if state == "rescheduled":
                continue
            amount = FEES[currency]
            fee = amount * 15 // 100
            refunded = amount if state == "cancelled" else (amount // 2 if i % 5 == 0 else 0)
            status = (
                "succeeded" if not refunded else ("refunded" if refunded == amount else "partially_refunded")
            )
            paid_at = start - timedelta(days=2)
            payment = Payment.objects.create(
                consultation=consultation,
                patient=patient,
                doctor=doctor,
                gateway="razorpay" if currency == "INR" else "stripe",
                reference=f"dash_{next(references)}",
                list_amount=amount,
                amount=amount,
                currency=currency,
                status=status,
                refunded_amount=refunded,
                platform_fee=fee,
                doctor_share=amount - fee,
                created_at=paid_at,
                succeeded_at=paid_at,
            )
            PayoutLedgerEntry.objects.create(
                doctor=doctor,
                currency=currency,
                kind=LedgerKind.EARNING,
                amount=amount - fee,
                payment=payment,
                created_at=paid_at,
            )
            if refunded:
                refund = Refund.objects.create(
                    payment=payment,
                    amount=refunded,
                    status="succeeded",
                    reason="Cancelled" if state == "cancelled" else "Goodwill",
                    idempotency_key=f"dash-refund-{payment.pk}",
                    requested_by=staff,
                )
                refunded_at = min(start + timedelta(hours=1), now)
                Refund.objects.filter(pk=refund.pk).update(created_at=refunded_at, updated_at=refunded_at)
                PayoutLedgerEntry.objects.create(
                    doctor=doctor,
                    currency=currency,
                    kind=LedgerKind.REFUND_REVERSAL,
                    amount=-((amount - fee) * refunded // amount),
                    payment=payment,
                    refund=refund,
                    created_at=refunded_at,
                )
            if state == "completed":
                Review.objects.create(
                    consultation=consultation, patient=patient, doctor=doctor, rating=3 + i % 3
                )
        # Going on right now: the "today" cards.
        for i, state in enumerate(["in_progress", "waiting"]):
            doctor, _clinic, currency = doctors[i]
            start = now - timedelta(minutes=10 - 5 * i)
            ConsultationFactory(
                patient=patients[i],
                doctor=doctor,
                state=state,
                scheduled_start=start,
                waiting_since=start,
                started_at=start if state == "in_progress" else None,
                duration_minutes=30,
                fee_amount=FEES[currency],
                fee_currency=currency,
            )
            consultations += 1
            local_start = start.astimezone(zone)
            slots.add((local_start.weekday(), local_start.hour))
        # Signed in today: the growth chart's "active users".
        for patient in patients[:5]:
            issue_tokens(patient)
        access = issue_tokens(staff)["access"]

    return {
        "staff_phone": STAFF_PHONE,
        "staff_password": STAFF_PASSWORD,
        "staff_access_token": access,
        "time_zone": ZONE,
        "cities": sorted([country, state, city] for country, state, city, _ in PLACES),
        "currencies": sorted(FEES),
        "patients": len(patients),
        "pending_doctor_verifications": sum(1 for index in range(len(PLACES)) if index % 2 == 1),
        "consultations": consultations,
        "heatmap_slots": sorted(slots),
    }


def seed_in_subprocess(env: Mapping[str, str]) -> dict[str, Any]:
    """Run ``seed_dashboard_data`` with the live server's ``env``; its JSON answer."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.analytics.browser", "seed"],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"seeding the dashboard data failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-5000:]}",
            pytrace=False,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- Chromium ----------------------------------------------------------------------------------------


def chromium_paths() -> tuple[str, str]:
    """Debian's chromium and chromedriver, or a failure that says how to install them."""
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing = [
            name for name, path in (("chromium", chromium), ("chromedriver", chromedriver)) if not path
        ]
        pytest.fail(f"{' and '.join(missing)} not found on PATH: {INSTALL_HINT}.", pytrace=False)
    return chromium, chromedriver


@contextmanager
def headless_chromium(log_dir: Path) -> Iterator[Any]:
    """A Selenium driver for headless Chromium that keeps the browser's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in containers and CI
        "--disable-dev-shm-usage",  # small /dev/shm in containers
        "--disable-gpu",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",  # never talk to Google
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--force-color-profile=srgb",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(log_dir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(20)
        yield driver
    finally:
        driver.quit()


def console_entries(driver) -> list[dict[str, Any]]:
    """The browser console entries since the last call (console.error, uncaught exceptions and
    failed loads are level SEVERE)."""
    return driver.get_log("browser")


def admin_session(base_url: str, phone: str, password: str) -> str:
    """Log in through the admin login form, as a person would; the session cookie's value."""
    import re

    import httpx

    with httpx.Client(base_url=base_url, timeout=10) as client:
        form = client.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert csrf, form.text[:1000]
        response = client.post(
            "/admin/login/?next=/dashboard/",
            data={"username": phone, "password": password, "csrfmiddlewaretoken": csrf.group(1)},
        )
        assert response.status_code == 302, response.text[:2000]
        assert response.headers["Location"] == "/dashboard/"
        return client.cookies["sessionid"]


def use_session(driver, base_url: str, session_key: str) -> None:
    """Hand the browser the session cookie before its first visit, so the console only ever holds
    the dashboard's own messages (the admin's pages ask for a /favicon.ico that does not exist)."""
    driver.execute_cdp_cmd(
        "Network.setCookie",
        {"name": "sessionid", "value": session_key, "url": base_url, "httpOnly": True, "path": "/"},
    )


def artifacts_dir() -> Path:
    """``$TEST_ARTIFACTS_DIR``, else ``test-artifacts/`` in the repository (git-ignored)."""
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO_ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_full_page_screenshot(driver, path: Path) -> Path:
    """A PNG of the whole page, not only the window (Chrome DevTools Protocol)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


if __name__ == "__main__":
    if sys.argv[1:] != ["seed"]:
        sys.exit("usage: python -m tests.analytics.browser seed")
    import django

    django.setup()
    print(json.dumps(seed_dashboard_data()))
