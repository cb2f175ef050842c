"""GET /api/audit/: the PHI audit log, staff only, read-only, searchable."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from clinical.models import Condition
from telehealth.audit.models import AuditEntry
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db

AUDIT = "/api/audit/"


@pytest.fixture
def entries(patient, other_patient, doctor, admin_user):
    now = timezone.now()

    def entry(actor, subject, action, resource, days_ago, ip="192.0.2.1"):
        return AuditEntry.objects.create(
            actor=actor,
            actor_role=actor.role,
            subject=subject,
            action=action,
            resource=resource,
            object_id="7",
            ip=ip,
            at=now - timedelta(days=days_ago),
        )

    return {
        "doctor_read": entry(doctor, patient, "read", "condition", 1),
        "doctor_download": entry(doctor, patient, "download", "document", 2, ip="198.51.100.7"),
        "doctor_denied": entry(doctor, other_patient, "denied", "medical_record", 3),
        "admin_read": entry(admin_user, other_patient, "read", "patient_profile", 10),
    }


def _names(response, entries) -> set[str]:
    assert response.status_code == 200, response.content
    ids = {row["id"] for row in response.json()["data"]["results"]}
    return {name for name, e in entries.items() if e.pk in ids}


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_read_the_audit_log_newest_first(client_for, request, entries, role):
    response = client_for(request.getfixturevalue(role)).get(AUDIT)

    rows = response.json()["data"]["results"]
    assert [row["id"] for row in rows] == [
        entries[n].pk for n in ["doctor_read", "doctor_download", "doctor_denied", "admin_read"]
    ]


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_patients_and_doctors_cannot_read_the_audit_log(client_for, request, entries, role):
    client = client_for(request.getfixturevalue(role))

    listing = client.get(AUDIT)
    detail = client.get(f"{AUDIT}{entries['doctor_read'].pk}/")

    assert (listing.status_code, detail.status_code) == (403, 403)
    assert listing.json()["error"]["code"] == "PERMISSION_DENIED"
    assert "192.0.2.1" not in listing.content.decode() + detail.content.decode()


def test_anonymous_cannot_read_the_audit_log(api_client, entries):
    response = api_client.get(AUDIT)
    assert response.status_code == 401
    assert "192.0.2.1" not in response.content.decode()


def test_audit_log_is_read_only(client_for, superadmin, entries):
    client = client_for(superadmin)
    target = f"{AUDIT}{entries['doctor_read'].pk}/"

    assert client.post(AUDIT, {"action": "read"}).status_code == 405
    assert client.put(target, {"action": "delete"}).status_code == 405
    assert client.patch(target, {"action": "delete"}).status_code == 405
    assert client.delete(target).status_code == 405
    assert AuditEntry.objects.get(pk=entries["doctor_read"].pk).action == "read"
    assert AuditEntry.objects.count() == 4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "read"}, {"doctor_read", "admin_read"}),
        ({"action": ["download", "denied"]}, {"doctor_download", "doctor_denied"}),
        ({"resource": "document"}, {"doctor_download"}),
        ({"ip": "198.51.100.7"}, {"doctor_download"}),
        ({"actor_role": "admin"}, {"admin_read"}),
    ],
)
def test_audit_log_filters(client_for, admin_user, entries, params, expected):
    assert _names(client_for(admin_user).get(AUDIT, params), entries) == expected


def test_audit_log_ip_filter_that_is_not_an_address_is_a_validation_error(client_for, admin_user, entries):
    response = client_for(admin_user).get(AUDIT, {"ip": "not-an-ip"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "ip" in response.json()["error"]["details"]


def test_audit_log_filters_by_actor_subject_and_time(client_for, admin_user, doctor, patient, entries):
    client = client_for(admin_user)
    now = timezone.now()

    assert _names(client.get(AUDIT, {"actor": str(doctor.pk)}), entries) == {
        "doctor_read",
        "doctor_download",
        "doctor_denied",
    }
    assert _names(client.get(AUDIT, {"subject": str(patient.pk)}), entries) == {
        "doctor_read",
        "doctor_download",
    }
    window = {
        "at_after": (now - timedelta(days=5)).isoformat(),
        "at_before": (now - timedelta(days=1, hours=12)).isoformat(),
    }
    assert _names(client.get(AUDIT, window), entries) == {"doctor_download", "doctor_denied"}


def test_invalid_audit_filters_are_refused(client_for, admin_user):
    response = client_for(admin_user).get(AUDIT, {"action": "peek", "actor": "nobody"})

    assert response.status_code == 400
    assert {"action", "actor"} <= set(response.json()["error"]["details"])


def test_a_real_read_shows_up_with_who_whom_what_when_where(client_for, admin_user, doctor, patient):
    ConsultationFactory(patient=patient, doctor=doctor)
    condition = Condition.objects.create(patient=patient, name="Asthma")
    before = timezone.now()
    path = f"/api/patients/{patient.pk}/conditions/{condition.pk}/"
    client_for(doctor).get(path, HTTP_USER_AGENT="Clinic-App/5.1", REMOTE_ADDR="203.0.113.50")

    row = client_for(admin_user).get(AUDIT).json()["data"]["results"][0]

    assert row["actor"] == str(doctor.pk)
    assert row["actor_name"] == doctor.full_name
    assert row["actor_role"] == "doctor"
    assert row["subject"] == str(patient.pk)
    assert row["subject_name"] == patient.full_name
    assert (row["action"], row["resource"], row["object_id"]) == ("read", "condition", str(condition.pk))
    assert (row["ip"], row["user_agent"], row["method"], row["path"]) == (
        "203.0.113.50",
        "Clinic-App/5.1",
        "GET",
        path,
    )
    assert before <= datetime.fromisoformat(row["at"].replace("Z", "+00:00")) <= timezone.now()


def test_a_denied_attempt_shows_up_as_denied(client_for, admin_user, other_doctor, patient):
    client_for(other_doctor).get(f"/api/patients/{patient.pk}/allergies/")

    rows = client_for(admin_user).get(AUDIT, {"action": "denied"}).json()["data"]["results"]

    assert [(r["actor"], r["subject"], r["resource"]) for r in rows] == [
        (str(other_doctor.pk), str(patient.pk), "allergy")
    ]


def test_reading_the_audit_log_is_not_itself_audited(client_for, admin_user, entries):
    client_for(admin_user).get(AUDIT)
    assert AuditEntry.objects.count() == 4


def test_one_entry_by_id(client_for, admin_user, entries):
    entry = entries["doctor_denied"]

    response = client_for(admin_user).get(f"{AUDIT}{entry.pk}/")

    assert response.status_code == 200
    assert response.json()["data"]["action"] == "denied"
    assert client_for(admin_user).get(f"{AUDIT}999999/").status_code == 404


def test_audit_log_runs_a_constant_number_of_queries(
    client_for, admin_user, django_assert_num_queries, entries
):
    client = client_for(admin_user)
    # Token user, count, page (actor and subject joined).
    with django_assert_num_queries(3):
        client.get(AUDIT)
    for _ in range(20):
        someone = UserFactory(role="patient")
        AuditEntry.objects.create(actor=admin_user, subject=someone, action="read", resource="condition")

    with django_assert_num_queries(3):
        response = client.get(AUDIT, {"page_size": 50})
    assert len(response.json()["data"]["results"]) == 24
