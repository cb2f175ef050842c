"""A custom report run end to end on a real Celery worker: an admin asks for a run over the API,
the worker computes it, the run turns done and both downloads hold the figures."""

from __future__ import annotations

import csv
import io
import time

import pytest
from openpyxl import load_workbook

from tests.analytics.report_fixtures import *  # noqa: F403 - fixtures

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis]


def _wait_for_run(client, run_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/analytics/report-runs/{run_id}/").json()["data"]
        if run["status"] in ("done", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_admin_runs_a_revenue_report_on_the_worker(celery_worker, client_for, kolkata_admin, world):
    client = client_for(kolkata_admin)
    body = {
        "name": "March revenue",
        "metric": "revenue_net",
        "dimensions": ["period", "gateway"],
        "date_range": "custom",
        "date_from": "2025-03-01",
        "date_to": "2025-03-31",
        "granularity": "day",
    }
    created = client.post("/api/analytics/reports/", body, format="json")
    assert created.status_code == 201, created.json()
    queued = client.post(f"/api/analytics/reports/{created.json()['data']['id']}/run/")
    assert queued.status_code == 202, queued.json()
    assert queued.json()["data"]["status"] == "queued"

    run = _wait_for_run(client, queued.json()["data"]["id"])
    assert run["status"] == "done", (run, celery_worker.log_tail())
    assert "analytics.run_report" in celery_worker.log()
    assert run["attempts"] == 1
    assert run["window"]["time_zone"] == "Asia/Kolkata"
    header = ["period", "currency", "gateway", "revenue_net"]
    # Net of the payments that succeeded on each Kolkata day: c3's refund of 10000 comes off Mar 2.
    expected = [
        ["2025-03-01", "INR", "razorpay", 50_000],
        ["2025-03-02", "INR", "razorpay", 20_000],
        ["2025-03-10", "USD", "stripe", 0],
    ]
    assert (run["columns"], run["row_count"]) == (header, 3)

    response = client.get(run["downloads"]["csv"])
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [header] + [[str(cell) for cell in row] for row in expected]

    response = client.get(run["downloads"]["xlsx"])
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [header, *expected]
