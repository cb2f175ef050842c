"""A patient's running medicines and their dose schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinical.prescriptions import selectors, services
from tests.api.helpers import error_of, success_data
from tests.clinical.prescriptions.conftest import service_item, url

pytestmark = pytest.mark.django_db

MY_MEDS = url(suffix="my-medications")
SCHEDULE = url(suffix="reminder-schedule")


@pytest.fixture
def prescribe(doctor, consultation, med):
    """``prescribe([("warfarin", "OD", 5)], at=...)``: an issued prescription, issued at ``at``."""

    def make(lines, *, at=None):
        draft = services.create_prescription(
            doctor,
            consultation,
            items=[service_item(med(name), frequency=freq, duration_days=days) for name, freq, days in lines],
        )
        return services.issue_prescription(doctor, draft, now=at or datetime.now(UTC))

    return make


def _local_times(schedule) -> list[str]:
    return [d["local_time"] for d in schedule["doses"]]


# --- My medications ------------------------------------------------------------------------------


def test_patient_sees_running_items_only(client_for, patient, doctor, prescribe, revision):
    now = datetime.now(UTC)
    running = prescribe([("metformin", "BD", 30)], at=now - timedelta(days=2))
    prescribe([("cetirizine", "OD", 3)], at=now - timedelta(days=10))  # course over

    page = success_data(client_for(patient).get(MY_MEDS))

    names = [(row["medication"]["generic_name"], row["prescription"]) for row in page["results"]]
    # ``revision`` is a draft correction of ``issued``: the issued version's items still run.
    assert ("metformin", str(running.pk)) in names
    assert ("amoxicillin", str(revision.previous_id)) in names
    assert "cetirizine" not in {n for n, _ in names}
    assert page["count"] == 3


def test_superseded_items_stop_running(client_for, patient, doctor, issued, revision, med):
    services.update_prescription(doctor, revision, items=[service_item(med("cetirizine"))])
    services.issue_prescription(doctor, revision)

    page = success_data(client_for(patient).get(MY_MEDS))

    assert [row["medication"]["generic_name"] for row in page["results"]] == ["cetirizine"]


def test_other_patient_gets_an_empty_list(client_for, other_patient, issued):
    assert success_data(client_for(other_patient).get(MY_MEDS))["results"] == []


@pytest.mark.parametrize("role", ["doctor", "admin_user", "superadmin"])
def test_my_medications_is_for_patients(as_role, role):
    error_of(as_role(role).get(MY_MEDS), 403, "PERMISSION_DENIED")


def test_anonymous_has_no_medications(api_client):
    error_of(api_client.get(MY_MEDS), 401, "AUTHENTICATION_FAILED")


# --- Dose times ----------------------------------------------------------------------------------


def test_schedule_is_computed_in_the_patients_zone(patient, prescribe):
    patient.timezone = "Asia/Kolkata"
    patient.save()
    issued_at = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)  # 08:30 in Kolkata
    prescribe([("amoxicillin", "TDS", 2)], at=issued_at)

    schedule = selectors.reminder_schedule(patient, days=7, now=issued_at)

    # Day one from 08:30 local: 14:00 and 20:00; day two all three; then the course is over.
    assert _local_times(schedule) == [
        "2025-03-10T14:00:00+05:30",
        "2025-03-10T20:00:00+05:30",
        "2025-03-11T08:00:00+05:30",
        "2025-03-11T14:00:00+05:30",
        "2025-03-11T20:00:00+05:30",
    ]
    assert schedule["doses"][0]["at"] == datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
    assert schedule["timezone"] == "Asia/Kolkata"


def test_same_prescription_in_utc_gives_other_instants(patient, prescribe):
    issued_at = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
    prescribe([("amoxicillin", "TDS", 2)], at=issued_at)

    schedule = selectors.reminder_schedule(patient, days=7, now=issued_at)

    assert schedule["doses"][0]["at"] == datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    assert schedule["doses"][0]["local_time"] == "2025-03-10T08:00:00+00:00"
    assert len(schedule["doses"]) == 6


@pytest.mark.parametrize(
    ("frequency", "hours"),
    [
        ("OD", [9]),
        ("BD", [9, 21]),
        ("TDS", [8, 14, 20]),
        ("QID", [8, 12, 16, 20]),
        ("QHS", [22]),
        ("Q8H", [6, 14, 22]),
    ],
)
def test_dose_times_per_frequency(patient, prescribe, frequency, hours):
    start = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
    prescribe([("cetirizine", frequency, 1)], at=start)

    schedule = selectors.reminder_schedule(patient, days=1, now=start)

    assert [d["at"].hour for d in schedule["doses"]] == hours


def test_weekly_doses_once_a_week_from_the_day_of_issue(patient, prescribe):
    start = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
    prescribe([("methotrexate", "WEEKLY", 28)], at=start)

    schedule = selectors.reminder_schedule(patient, days=31, now=start)

    assert [d["at"].date().isoformat() for d in schedule["doses"]] == [
        "2025-03-10",
        "2025-03-17",
        "2025-03-24",
        "2025-03-31",
    ]


def test_prn_is_listed_but_not_scheduled(patient, prescribe):
    start = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
    prescribe([("paracetamol", "PRN", 5)], at=start)

    schedule = selectors.reminder_schedule(patient, days=3, now=start)

    assert schedule["doses"] == []
    assert [u["medication"].generic_name for u in schedule["unscheduled"]] == ["paracetamol"]


def test_schedule_endpoint_returns_utc_and_local_times(client_for, patient, prescribe):
    patient.timezone = "Asia/Kolkata"
    patient.save()
    prescribe([("metformin", "BD", 10)], at=datetime.now(UTC) - timedelta(days=1))

    data = success_data(client_for(patient).get(SCHEDULE, {"days": 2}))

    assert data["timezone"] == "Asia/Kolkata"
    assert data["days"] == 2
    assert len(data["doses"]) == 4  # two a day, over 48 hours
    for dose in data["doses"]:
        assert dose["at"].endswith("Z")
        assert dose["local_time"].endswith("+05:30")
        assert dose["local_time"][11:16] in {"09:00", "21:00"}
        assert dose["medication"]["generic_name"] == "metformin"


@pytest.mark.parametrize("days", ["0", "32", "soon"])
def test_schedule_days_are_validated(client_for, patient, days):
    error = error_of(client_for(patient).get(SCHEDULE, {"days": days}), 400, "VALIDATION_ERROR")

    assert "days" in error["details"]


@pytest.mark.parametrize("role", ["doctor", "admin_user", "superadmin"])
def test_schedule_is_for_patients(as_role, role):
    error_of(as_role(role).get(SCHEDULE), 403, "PERMISSION_DENIED")


def test_anonymous_has_no_schedule(api_client):
    error_of(api_client.get(SCHEDULE), 401, "AUTHENTICATION_FAILED")
