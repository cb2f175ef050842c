import csv
import gc
import io
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import AsyncClient

from telehealth.accounts.models import User
from telehealth.audit.models import AuditEntry
from tests.analytics.report_fixtures import *  # noqa: F403 - fixtures

pytestmark = pytest.mark.django_db

EXPORT = "/api/analytics/export/"
MARCH = "from=2025-03-01&to=2025-03-31"


def _rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_consultations_export_in_the_admins_time_zone(client_for, kolkata_admin, world):
    response = client_for(kolkata_admin).get(f"{EXPORT}consultations/?{MARCH}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"] == 'attachment; filename="consultations-2025-03-01-to-2025-03-31.csv"'
    )
    assert response["X-Export-Rows"] == "4"
    rows = _rows(response)
    assert [row["id"] for row in rows] == [str(c.pk) for c in (world.c1, world.c2, world.c3, world.c4)]
    # c3 starts at 00:30 on Mar 2 in Kolkata (19:00 on Mar 1 in UTC).
    assert rows[2]["scheduled_start"] == "2025-03-02T00:30:00+05:30"
    assert rows[2]["clinic_id"] == str(world.clinic.pk)
    assert (rows[0]["clinic_id"], rows[0]["started_at"]) == ("", "")
    assert (rows[1]["state"], rows[1]["no_show_party"], rows[1]["fee_amount"]) == (
        "no_show",
        "patient",
        "50000",
    )


def test_exports_carry_no_clinical_content_nor_contact_details(client_for, kolkata_admin, world):
    client = client_for(kolkata_admin)
    for resource in ("consultations", "payments", "users"):
        response = client.get(f"{EXPORT}{resource}/?{MARCH}")
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        header = text.splitlines()[0].split(",")
        assert not {"diagnosis", "chief_complaint", "phone", "email", "checkout_data"} & set(header)
        assert "SECRET" not in text
        assert str(world.alice.phone) not in text


def test_the_range_defaults_to_the_profile_zone_and_tz_overrides_it(client_for, kolkata_admin, world):
    client = client_for(kolkata_admin)
    kolkata = _rows(client.get(f"{EXPORT}consultations/?from=2025-03-02&to=2025-03-02"))
    assert [row["id"] for row in kolkata] == [str(world.c3.pk)]
    utc = _rows(client.get(f"{EXPORT}consultations/?from=2025-03-01&to=2025-03-01&tz=UTC"))
    assert [row["id"] for row in utc] == [str(c.pk) for c in (world.c1, world.c2, world.c3)]
    assert utc[2]["scheduled_start"] == "2025-03-01T19:00:00+00:00"


def test_filters_narrow_the_export(client_for, kolkata_admin, world):
    client = client_for(kolkata_admin)
    rows = _rows(client.get(f"{EXPORT}consultations/?{MARCH}&state=completed,no_show&type=video,audio"))
    assert [row["id"] for row in rows] == [str(world.c1.pk), str(world.c2.pk)]
    rows = _rows(client.get(f"{EXPORT}payments/?{MARCH}&currency=usd"))
    assert [(row["currency"], row["amount"], row["refunded_amount"]) for row in rows] == [
        ("USD", "2000", "2000")
    ]
    rows = _rows(client.get(f"{EXPORT}users/?{MARCH}&role=doctor"))
    assert [row["id"] for row in rows] == [str(world.derek.pk)]


@pytest.mark.parametrize(
    "query",
    [
        "state=bogus",
        "doctor=not-an-id",
        "from=2025-04-01&to=2025-03-01",
        "tz=Mars/Olympus",
        "from=2010-01-01",
    ],
)
def test_invalid_queries_are_refused(client_for, kolkata_admin, query):
    response = client_for(kolkata_admin).get(f"{EXPORT}consultations/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not AuditEntry.objects.exists()


def test_payments_export_has_every_status_and_money_in_minor_units(client_for, kolkata_admin, world):
    rows = _rows(client_for(kolkata_admin).get(f"{EXPORT}payments/?{MARCH}"))
    assert sorted((row["status"], row["amount"], row["currency"]) for row in rows) == [
        ("failed", "99999", "INR"),
        ("partially_refunded", "30000", "INR"),
        ("refunded", "2000", "USD"),
        ("succeeded", "50000", "INR"),
    ]
    paid = next(row for row in rows if row["status"] == "succeeded")
    assert (paid["platform_fee"], paid["doctor_share"], paid["gateway"]) == ("10000", "40000", "razorpay")
    assert paid["succeeded_at"] == "2025-03-01T09:30:00+05:30"


def test_every_export_is_audited_once_with_its_row_count(client_for, kolkata_admin, world):
    response = client_for(kolkata_admin).get(f"{EXPORT}users/?{MARCH}&role=patient,doctor")
    assert len(_rows(response)) == 3
    [entry] = AuditEntry.objects.all()
    assert (entry.actor, entry.action, entry.resource) == (kolkata_admin, "download", "users_export")
    assert entry.object_id == "2025-03-01..2025-03-31 rows=3"
    assert entry.path == "/api/analytics/export/users/"


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_non_staff_cannot_export(request, client_for, who):
    response = client_for(request.getfixturevalue(who)).get(f"{EXPORT}consultations/")
    assert response.status_code == 403
    assert not AuditEntry.objects.exists()


def test_anonymous_cannot_export(api_client):
    assert api_client.get(f"{EXPORT}payments/").status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_an_asynchronous_stream(kolkata_admin_token, world):
    # ASGI header names (AsyncClient(headers=...) arrives as "http-authorization" here).
    response = await AsyncClient().get(
        f"{EXPORT}consultations/?{MARCH}", AUTHORIZATION=f"Bearer {kolkata_admin_token}"
    )
    assert response.status_code == 200
    assert response.is_async  # Django would otherwise read it all into memory before sending it
    chunks = [chunk async for chunk in response.streaming_content]
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert len(rows) == 4
    # The view's thread keeps its connection (the test client does not close it): close it, or the
    # test database cannot be dropped.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def kolkata_admin_token(kolkata_admin):
    from telehealth.accounts.services import issue_tokens

    return issue_tokens(kolkata_admin)["access"]


# --- Constant memory ---------------------------------------------------------------------------------

JOINED = datetime(2024, 6, 1, tzinfo=UTC)


def _seed_users(count: int, prefix: str) -> None:
    """``count`` patients who joined on 2024-06-01 (UTC): inserted by the database itself on
    PostgreSQL, in batches elsewhere."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO accounts_user (id, password, is_superuser, phone, role, first_name, last_name,
                    email, timezone, language, is_active, is_staff, date_joined)
                SELECT gen_random_uuid(), '!', false, %s || lpad(n::text, 8, '0'), 'patient',
                    'First' || n, 'Last' || n, '', 'UTC', 'en', true, false, %s + n * interval '1 ms'
                FROM generate_series(1, %s) AS n
                """,
                [f"+91{prefix}", JOINED, count],
            )
        return
    batch = 5000
    for start in range(0, count, batch):
        User.objects.bulk_create(
            User(
                id=uuid.uuid4(),
                password="!",
                phone=f"+91{prefix}{n:08d}",
                first_name=f"First{n}",
                last_name=f"Last{n}",
                date_joined=JOINED + timedelta(milliseconds=n),
            )
            for n in range(start, min(start + batch, count))
        )


def _peak_while_streaming(client) -> tuple[int, int]:
    """(rows, peak bytes allocated) while the export is requested and read chunk by chunk."""
    gc.collect()
    tracemalloc.start()
    try:
        response = client.get(f"{EXPORT}users/?from=2024-06-01&to=2024-06-01&tz=UTC&role=patient")
        assert response.status_code == 200
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lines - 1, peak


def test_streaming_10k_rows_stays_small(client_for, kolkata_admin):
    _seed_users(10_000, "70")
    rows, peak = _peak_while_streaming(client_for(kolkata_admin))
    print(f"\nexport of {rows} rows: peak {peak / 2**20:.2f} MiB")
    assert rows == 10_000
    assert peak < 20 * 2**20


@pytest.mark.postgres
def test_streaming_100k_rows_takes_no_more_memory_than_10k(client_for, kolkata_admin):
    client = client_for(kolkata_admin)
    _seed_users(10_000, "70")
    small_rows, small_peak = _peak_while_streaming(client)
    _seed_users(90_000, "71")
    rows, peak = _peak_while_streaming(client)
    print(
        f"\nexport peaks: {small_rows} rows {small_peak / 2**20:.2f} MiB, {rows} rows {peak / 2**20:.2f} MiB"
    )
    assert (small_rows, rows) == (10_000, 100_000)
    assert peak < 20 * 2**20
    # Ten times the rows in about the same memory (a cost per row would make it ~10x).
    assert peak < small_peak * 1.5 + 2**20
