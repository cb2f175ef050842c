import csv
import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from analytics.models import ReportDefinition, ReportRun, ReportStatus
from analytics.periods import Window
from analytics.report_tasks import run_report
from analytics.reports import query
from analytics.reports.query import compute
from tests.analytics.report_fixtures import *  # noqa: F403 - fixtures
from tests.analytics.report_fixtures import KOLKATA, utc

pytestmark = pytest.mark.django_db

REPORTS = "/api/analytics/reports/"


def _march(granularity: str = "day", zone=KOLKATA) -> Window:
    return Window(start=date(2025, 3, 1), end=date(2025, 3, 31), zone=zone, granularity=granularity)


def _run(client, definition_id, capture) -> dict:
    with capture(execute=True):
        response = client.post(f"{REPORTS}{definition_id}/run/")
    assert response.status_code == 202, response.json()
    run = client.get(f"/api/analytics/report-runs/{response.json()['data']['id']}/").json()["data"]
    return run


# --- The figures -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize(
    ("metric", "dimensions", "filters", "rows"),
    [
        ("consultations", [], {}, [[4]]),
        (
            "consultations",
            ["period"],
            {},
            [["2025-03-01", 2], ["2025-03-02", 1], ["2025-03-10", 1]],
        ),
        ("consultations", ["state"], {}, [["cancelled", 1], ["completed", 2], ["no_show", 1]]),
        ("consultations", ["country"], {"state": ["completed", "no_show"]}, [["GB", 1], ["IN", 2]]),
        ("consultations", ["period"], {"country": ["GB"]}, [["2025-03-01", 1], ["2025-03-10", 1]]),
        ("completed_consultations", ["specialisation"], {}, [["cardiology", 1], ["dermatology", 1]]),
        ("completed_consultations", ["type"], {"specialisation": ["dermatology"]}, [["in_clinic", 1]]),
        ("no_shows", ["no_show_party", "city"], {}, [["patient", "London", 1]]),
        ("revenue_gross", [], {}, [["INR", 80_000], ["USD", 2_000]]),
        (
            "revenue_gross",
            ["period"],
            {},
            [["2025-03-01", "INR", 50_000], ["2025-03-02", "INR", 30_000], ["2025-03-10", "USD", 2_000]],
        ),
        ("revenue_gross", ["gateway"], {"currency": ["INR"]}, [["INR", "razorpay", 80_000]]),
        ("revenue_refunds", [], {}, [["INR", 10_000], ["USD", 2_000]]),
        ("revenue_net", [], {}, [["INR", 70_000], ["USD", 0]]),
        ("platform_fee", [], {}, [["INR", 16_000], ["USD", 400]]),
        ("signups", ["role"], {}, [["doctor", 1], ["patient", 2]]),
        ("prescriptions_issued", ["specialisation"], {}, [["cardiology", 1]]),
        ("average_rating", [], {}, [[4.5]]),
    ],
)
def test_metric_figures_in_kolkata_days(metric, dimensions, filters, rows):
    assert compute(metric, dimensions, filters, _march()).rows == rows


@pytest.mark.usefixtures("world")
def test_the_same_range_in_utc_moves_late_evening_rows_to_the_previous_day():
    utc = _march(zone=ZoneInfo("UTC"))
    assert compute("consultations", ["period"], {}, utc).rows == [["2025-03-01", 3], ["2025-03-10", 1]]
    # Derek joined at 01:00 on Mar 2 in Kolkata, which is still Mar 1 in UTC.
    assert compute("signups", ["period", "role"], {"role": ["doctor"]}, utc).rows == [
        ["2025-03-01", "doctor", 1]
    ]


def test_doctor_and_clinic_dimensions_carry_names(world):
    rows = compute("average_rating", ["doctor"], {}, _march()).rows
    assert sorted(rows) == sorted(
        [[str(world.dana.pk), "Dana Doc", 5.0], [str(world.derek.pk), "Derek Doc", 4.0]]
    )
    result = compute("consultations", ["clinic"], {"clinic": [str(world.clinic.pk)]}, _march())
    assert result.columns == ["clinic_id", "clinic_name", "consultations"]
    assert result.rows == [[world.clinic.pk, "=HYPERLINK(evil)", 1]]


@pytest.mark.usefixtures("world")
def test_weeks_and_months_are_labelled_with_their_first_local_day():
    # Sat Mar 1 and Sun Mar 2 belong to the week of Monday Feb 24.
    assert compute("consultations", ["period"], {}, _march("week")).rows == [
        ["2025-02-24", 3],
        ["2025-03-10", 1],
    ]
    assert compute("consultations", ["period"], {}, _march("month")).rows == [["2025-03-01", 4]]


def test_too_many_rows_fail_the_run_with_a_message(world, definition, kolkata_admin, monkeypatch):
    from analytics.reports import services

    monkeypatch.setattr(query, "MAX_ROWS", 2)
    run = services.request_run(kolkata_admin, definition)
    run_report(str(run.pk))
    run.refresh_from_db()
    assert run.status == ReportStatus.FAILED
    assert run.error.startswith("More than 2 rows")
    assert run.finished_at is not None


# --- Definitions over the API ----------------------------------------------------------------------


def test_admin_saves_a_definition_in_their_own_time_zone(client_for, kolkata_admin, definition_body):
    response = client_for(kolkata_admin).post(REPORTS, definition_body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["time_zone"] == "Asia/Kolkata"
    assert data["owner"]["id"] == str(kolkata_admin.pk)
    assert data["editable"] is True
    saved = ReportDefinition.objects.get(pk=data["id"])
    assert (saved.metric, saved.dimensions, saved.date_from) == (
        "consultations",
        ["period", "state"],
        date(2025, 3, 1),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "bogus"}, "metric"),
        ({"metric": "signups", "dimensions": ["gateway"]}, "dimensions"),
        ({"dimensions": ["state", "period"]}, "dimensions"),
        ({"filters": {"state": ["bogus"]}}, "filters"),
        ({"filters": {"gateway": ["stripe"]}}, "filters"),
        ({"filters": {"doctor": ["not-an-id"]}}, "filters"),
        ({"date_range": "custom", "date_from": None}, "date_range"),
        ({"date_from": "2025-04-01", "date_to": "2025-03-01"}, "date_range"),
        ({"date_from": "2020-01-01", "date_to": "2025-03-01"}, "date_range"),  # > 366 days
        ({"date_range": "last_30_days"}, "date_range"),  # dates with a relative range
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_invalid_definitions_are_refused_per_field(client_for, kolkata_admin, definition_body, change, field):
    response = client_for(kolkata_admin).post(REPORTS, {**definition_body, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]
    assert not ReportDefinition.objects.exists()


def test_filter_values_are_normalised(client_for, kolkata_admin, definition_body):
    body = {
        **definition_body,
        "metric": "revenue_gross",
        "dimensions": [],
        "filters": {"currency": ["inr", "INR"]},
    }
    response = client_for(kolkata_admin).post(REPORTS, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["data"]["filters"] == {"currency": ["INR"]}


def test_every_staff_user_sees_every_definition(client_for, other_admin, superadmin, definition):
    for user in (other_admin, superadmin):
        listed = client_for(user).get(REPORTS).json()["data"]
        assert [item["id"] for item in listed["results"]] == [str(definition.pk)]
    assert client_for(other_admin).get(f"{REPORTS}{definition.pk}/").json()["data"]["editable"] is False


def test_other_admin_cannot_change_or_delete_a_definition(client_for, other_admin, definition):
    client = client_for(other_admin)
    changed = client.patch(f"{REPORTS}{definition.pk}/", {"name": "Mine now"}, format="json")
    assert changed.status_code == 403
    assert changed.json()["error"]["code"] == "REPORT_NOT_EDITABLE"
    assert client.delete(f"{REPORTS}{definition.pk}/").status_code == 403
    definition.refresh_from_db()
    assert definition.name == "March consultations"


def test_superadmin_changes_anyones_definition(client_for, superadmin, definition):
    response = client_for(superadmin).patch(
        f"{REPORTS}{definition.pk}/", {"date_range": "last_7_days"}, format="json"
    )
    assert response.status_code == 200, response.json()
    definition.refresh_from_db()
    # A relative range drops the custom dates.
    assert (definition.date_range, definition.date_from, definition.date_to) == ("last_7_days", None, None)


def test_patch_is_checked_against_the_whole_definition(client_for, kolkata_admin, definition):
    response = client_for(kolkata_admin).patch(
        f"{REPORTS}{definition.pk}/", {"metric": "signups"}, format="json"
    )
    assert response.status_code == 400  # "state" is not a dimension of signups
    assert "dimensions" in response.json()["error"]["details"]


def test_owner_deletes_a_definition_and_its_runs(client_for, kolkata_admin, definition, world):
    from analytics.reports import services

    services.request_run(kolkata_admin, definition)
    response = client_for(kolkata_admin).delete(f"{REPORTS}{definition.pk}/")
    assert response.status_code == 200
    assert not ReportDefinition.objects.exists()
    assert not ReportRun.objects.exists()


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_non_staff_cannot_see_reports(request, client_for, who, definition):
    client = client_for(request.getfixturevalue(who))
    assert client.get(REPORTS).status_code == 403
    assert client.get(f"{REPORTS}{definition.pk}/").status_code == 403
    assert client.post(f"{REPORTS}{definition.pk}/run/").status_code == 403
    assert not ReportRun.objects.exists()


def test_anonymous_cannot_see_reports(api_client, definition):
    assert api_client.get(REPORTS).status_code == 401
    assert api_client.get("/api/analytics/reports/metrics/").status_code == 401


def test_metric_catalogue_lists_dimensions_and_filters(client_for, kolkata_admin):
    metrics = {
        m["key"]: m for m in client_for(kolkata_admin).get("/api/analytics/reports/metrics/").json()["data"]
    }
    assert metrics["revenue_net"]["money"] is True
    assert "gateway" in metrics["revenue_net"]["filters"]
    assert [d["key"] for d in metrics["signups"]["dimensions"]] == ["period", "role", "country", "city"]


# --- Runs ------------------------------------------------------------------------------------------


def test_a_run_computes_and_downloads_as_csv_and_xlsx(
    client_for, other_admin, definition, world, django_capture_on_commit_callbacks
):
    client = client_for(other_admin)  # any staff user may run anyone's report
    run = _run(client, definition.pk, django_capture_on_commit_callbacks)
    assert run["status"] == "done", run
    assert run["row_count"] == 4
    assert run["window"] == {
        "from": "2025-03-01",
        "to": "2025-03-31",
        "time_zone": "Asia/Kolkata",
        "granularity": "day",
    }
    assert run["columns"] == ["period", "state", "consultations"]
    expected = [
        ["2025-03-01", "completed", 1],
        ["2025-03-01", "no_show", 1],
        ["2025-03-02", "completed", 1],
        ["2025-03-10", "cancelled", 1],
    ]

    response = client.get(run["downloads"]["csv"])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="report-2025-03-01-to-2025-03-31-'
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [run["columns"]] + [[str(cell) for cell in row] for row in expected]

    response = client.get(run["downloads"]["xlsx"])
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [run["columns"], *expected]


def test_runs_are_listed_newest_first(
    client_for, kolkata_admin, definition, world, django_capture_on_commit_callbacks
):
    client = client_for(kolkata_admin)
    first = _run(client, definition.pk, django_capture_on_commit_callbacks)
    second = _run(client, definition.pk, django_capture_on_commit_callbacks)
    listed = client.get(f"{REPORTS}{definition.pk}/runs/").json()["data"]["results"]
    assert [run["id"] for run in listed] == [second["id"], first["id"]]


def test_a_run_keeps_the_definition_it_was_requested_with(kolkata_admin, definition, world):
    from analytics.reports import services

    run = services.request_run(kolkata_admin, definition)
    definition.metric, definition.dimensions = "signups", ["role"]
    definition.save()
    run_report(str(run.pk))
    run.refresh_from_db()
    assert run.columns == ["period", "state", "consultations"]


def test_relative_range_is_resolved_in_the_report_zone_when_requested(kolkata_admin, definition):
    from analytics.reports import services

    definition.date_range, definition.date_from, definition.date_to = "yesterday", None, None
    definition.save()
    # 20:00 UTC on Mar 31 is already Apr 1 in Kolkata: yesterday there is Mar 31.
    run = services.request_run(kolkata_admin, definition, now=utc(2025, 3, 31, 20))
    assert (run.date_from, run.date_to) == (date(2025, 3, 31), date(2025, 3, 31))


def test_download_before_the_run_is_done_is_a_conflict(client_for, kolkata_admin, definition):
    from analytics.reports import services

    run = services.request_run(kolkata_admin, definition)  # not committed: the task never ran
    for fmt in ("csv", "xlsx"):
        response = client_for(kolkata_admin).get(
            f"/api/analytics/report-runs/{run.pk}/download/?format={fmt}"
        )
        assert response.status_code == 409
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "REPORT_RUN_NOT_READY"
        assert response.json()["error"]["details"] == {"status": "queued"}


def test_rerunning_a_finished_run_does_nothing(kolkata_admin, definition, world):
    from analytics.reports import services

    run = services.request_run(kolkata_admin, definition)
    assert run_report(str(run.pk)) == "done"
    run.refresh_from_db()
    finished, rows = run.finished_at, run.rows
    assert run_report(str(run.pk)) is None
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.rows, run.attempts) == ("done", finished, rows, 1)


def test_a_failure_is_recorded_with_its_message(kolkata_admin, definition, monkeypatch):
    from analytics.reports import services

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "compute", broken)
    run = services.request_run(kolkata_admin, definition)
    assert run_report(str(run.pk)) == "failed"
    run.refresh_from_db()
    assert run.error == "RuntimeError: database on fire"
    assert run.row_count is None
    assert run_report(str(run.pk)) is None  # a failed run is not retried by a redelivery


def test_a_run_whose_worker_died_is_taken_up_again(kolkata_admin, definition, world):
    from analytics.reports import services

    run = services.request_run(kolkata_admin, definition)
    ReportRun.objects.filter(pk=run.pk).update(status="running", attempts=1)
    assert run_report(str(run.pk)) == "done"
    run.refresh_from_db()
    assert (run.attempts, run.row_count) == (2, 4)


def test_formula_like_cells_are_escaped_in_both_formats(
    client_for, kolkata_admin, world, definition_body, django_capture_on_commit_callbacks
):
    client = client_for(kolkata_admin)
    body = {**definition_body, "dimensions": ["clinic"], "filters": {"clinic": [str(world.clinic.pk)]}}
    created = client.post(REPORTS, body, format="json").json()["data"]
    run = _run(client, created["id"], django_capture_on_commit_callbacks)
    text = b"".join(client.get(run["downloads"]["csv"]).streaming_content).decode("utf-8-sig")
    assert f"{world.clinic.pk},'=HYPERLINK(evil),1" in text
    sheet = load_workbook(io.BytesIO(b"".join(client.get(run["downloads"]["xlsx"]).streaming_content))).active
    assert list(sheet.iter_rows(values_only=True))[1] == (world.clinic.pk, "'=HYPERLINK(evil)", 1)
