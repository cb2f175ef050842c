"""The PHI audit log is append-only, down to the database, and every access to someone's health
data (allowed or denied) leaves exactly one entry."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from clinical.models import MedicalRecord
from telehealth.audit.models import AppendOnlyError, AuditEntry
from telehealth.audit.services import purge_entries
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(doctor, patient) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=doctor,
        actor_role="doctor",
        subject=patient,
        action="read",
        resource="medical_record",
        object_id="7",
    )


def test_the_guarded_table_is_the_audit_table():
    assert AuditEntry._meta.db_table == "audit_auditentry"


def _raw(sql: str, params: list) -> None:
    # In a savepoint: on PostgreSQL a refused statement spoils the transaction around it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- The database refuses ------------------------------------------------------------------------


def test_raw_sql_update_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"):
        _raw("UPDATE audit_auditentry SET action = 'delete' WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.get(pk=entry.pk).action == "read"


def test_raw_sql_update_of_every_row_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"):
        _raw("UPDATE audit_auditentry SET ip = %s", ["203.0.113.1"])

    assert AuditEntry.objects.get(pk=entry.pk).ip is None


def test_raw_sql_delete_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"):
        _raw("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_raw_sql_delete_of_every_row_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"):
        _raw("DELETE FROM audit_auditentry WHERE 1 = %s", [1])

    assert AuditEntry.objects.count() == 1


def test_raw_sql_insert_is_allowed(doctor, patient):
    _raw(
        "INSERT INTO audit_auditentry"
        " (at, actor_role, action, resource, object_id, user_agent, method, path)"
        " VALUES (CURRENT_TIMESTAMP, %s, %s, %s, %s, %s, %s, %s)",
        ["doctor", "read", "condition", "1", "", "GET", "/"],
    )
    assert AuditEntry.objects.count() == 1


# --- The ORM refuses, before the database is asked -------------------------------------------------


def test_saving_a_stored_entry_is_refused(entry):
    entry.action = "delete"
    with pytest.raises(AppendOnlyError):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).action == "read"


def test_queryset_update_is_refused(entry):
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="delete")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.update(ip="203.0.113.1")


def test_bulk_update_is_refused(entry):
    entry.action = "delete"
    # bulk_update runs in an atomic block without a savepoint: give it one.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["action"])
    assert AuditEntry.objects.get(pk=entry.pk).action == "read"


def test_queryset_and_instance_delete_are_refused(entry):
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert AuditEntry.objects.count() == 1


def test_deleting_a_user_with_audit_entries_is_refused(entry, doctor):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        doctor.delete()
    assert AuditEntry.objects.count() == 1


# --- The one way out: purging entries about fake people ------------------------------------------


def test_purge_deletes_only_the_given_entries_and_closes_the_door(entry, other_doctor, patient):
    other = AuditEntry.objects.create(
        actor=other_doctor, subject=patient, action="denied", resource="allergy"
    )

    with transaction.atomic():
        assert purge_entries(AuditEntry.objects.filter(pk=entry.pk)) == 1
        # Still inside the same transaction: the door is shut again.
        with pytest.raises(IntegrityError, match="append-only"):
            _raw("DELETE FROM audit_auditentry WHERE id = %s", [other.pk])

    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [other.pk]


def test_purge_never_allows_updates(entry):
    with transaction.atomic():
        purge_entries(AuditEntry.objects.none())
        with pytest.raises(IntegrityError, match="append-only"):
            _raw("UPDATE audit_auditentry SET action = 'delete' WHERE id = %s", [entry.pk])


@pytest.mark.django_db(transaction=True)
def test_flush_between_transactional_tests_still_empties_the_table(entry):
    # The teardown of this test flushes the database with the entry in it (TRUNCATE on
    # PostgreSQL, DELETE past the trigger on SQLite); the next test starts empty.
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_table_starts_empty_after_a_flush():
    assert AuditEntry.objects.count() == 0


# --- Exactly one entry per access ----------------------------------------------------------------


@pytest.fixture
def record(patient, doctor):
    ConsultationFactory(patient=patient, doctor=doctor)
    return MedicalRecord.objects.create(
        patient=patient,
        record_type="lab_report",
        title="Lipid panel",
        record_date="2024-02-03",
        authored_by=doctor,
    )


def _record_url(patient, record=None) -> str:
    tail = f"{record.pk}/" if record is not None else ""
    return f"/api/patients/{patient.pk}/records/{tail}"


def _entries() -> list[tuple]:
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "actor_id", "subject_id", "action", "resource", "object_id"
        )
    )


def test_treating_doctor_reading_a_record_writes_one_read_entry(client_for, doctor, patient, record):
    response = client_for(doctor).get(_record_url(patient, record), REMOTE_ADDR="203.0.113.5")

    assert response.status_code == 200
    assert _entries() == [(doctor.pk, patient.pk, "read", "medical_record", str(record.pk))]
    assert AuditEntry.objects.get().ip == "203.0.113.5"


def test_unrelated_doctor_reading_a_record_writes_one_denied_entry(client_for, other_doctor, patient, record):
    response = client_for(other_doctor).get(_record_url(patient, record))

    assert response.status_code in (403, 404)
    assert "Lipid panel" not in response.content.decode()
    assert _entries() == [(other_doctor.pk, patient.pk, "denied", "medical_record", str(record.pk))]


def test_unrelated_doctor_writing_a_record_writes_one_denied_entry(client_for, other_doctor, patient, record):
    body = {"record_type": "imaging", "title": "Chest X-ray", "record_date": "2024-02-03"}

    response = client_for(other_doctor).post(_record_url(patient), body)

    assert response.status_code in (403, 404)
    assert MedicalRecord.objects.count() == 1
    [(actor, subject, action, resource, _object_id)] = _entries()
    assert (actor, subject, action, resource) == (other_doctor.pk, patient.pk, "denied", "medical_record")


def test_treating_doctor_writing_a_record_writes_one_create_entry(client_for, doctor, patient, record):
    body = {"record_type": "imaging", "title": "Chest X-ray", "record_date": "2024-02-03"}

    response = client_for(doctor).post(_record_url(patient), body)

    assert response.status_code == 201
    created = response.json()["data"]["id"]
    assert _entries() == [(doctor.pk, patient.pk, "create", "medical_record", str(created))]


def test_treating_doctor_changing_a_record_writes_one_update_entry(client_for, doctor, patient, record):
    response = client_for(doctor).patch(_record_url(patient, record), {"title": "Lipid panel, fasting"})

    assert response.status_code == 200
    assert _entries() == [(doctor.pk, patient.pk, "update", "medical_record", str(record.pk))]


def test_forged_forwarded_for_never_breaks_the_audit_write(client_for, doctor, patient, record, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    response = client_for(doctor).get(_record_url(patient, record), HTTP_X_FORWARDED_FOR="not-an-ip")

    assert response.status_code == 200
    assert AuditEntry.objects.get().ip is None
