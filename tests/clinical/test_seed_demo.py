"""``manage.py seed_demo``: a small, deterministic demo data set that keeps the domain's rules, is
refused twice, and is replaced by ``--reset`` without touching real data."""

from __future__ import annotations

import re
from collections import Counter
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from clinical.management.commands.seed_demo import ADMIN_PHONE, demo_users
from clinical.models import (
    ACTIVE_STATES,
    ICD10_PATTERN,
    ChatMessage,
    Clinic,
    ClinicReview,
    Consultation,
    ConsultationEvent,
    ConsultationState,
    DoctorProfile,
    InventoryItem,
    PatientProfile,
    Prescription,
    PrescriptionStatus,
    Review,
    VerificationStatus,
)
from clinical.prescriptions.services import PrescriptionLocked
from telehealth.accounts.models import Role, User
from telehealth.audit.models import AuditEntry
from tests.factories import ConsultationFactory

SMALL = ["--patients", "20", "--doctors", "5", "--clinics", "3"]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *SMALL, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded(db) -> str:
    return seed()


def test_seeds_the_requested_sizes(seeded):
    demo = demo_users()
    assert PatientProfile.objects.filter(user__in=demo).count() == 20
    assert demo.filter(role=Role.DOCTOR).count() == 5
    assert DoctorProfile.objects.filter(user__in=demo).count() == 5
    assert Clinic.objects.count() == 3
    assert demo.filter(role=Role.ADMIN, phone=ADMIN_PHONE).exists()
    statuses = Counter(DoctorProfile.objects.values_list("verification_status", flat=True))
    assert statuses[VerificationStatus.VERIFIED] == 4
    assert statuses[VerificationStatus.PENDING] == 1
    assert Counter(Clinic.objects.values_list("verification_status", flat=True)) == {
        VerificationStatus.VERIFIED: 2,
        VerificationStatus.PENDING: 1,
    }
    assert InventoryItem.objects.exists()
    assert any(item.low_stock for item in InventoryItem.objects.all())


def test_consultations_cover_every_state(seeded):
    states = set(Consultation.objects.values_list("state", flat=True))
    assert states == set(ConsultationState.values)


def test_no_doctor_is_double_booked(seeded):
    consultations = list(Consultation.objects.all())
    active = Counter((c.doctor_id, c.scheduled_start) for c in consultations if c.state in ACTIVE_STATES)
    assert active
    assert max(active.values()) == 1
    by_doctor: dict = {}
    for c in consultations:
        if c.state in ACTIVE_STATES:
            by_doctor.setdefault(c.doctor_id, []).append((c.scheduled_start, c.scheduled_end))
    for intervals in by_doctor.values():
        intervals.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(intervals))


def test_consultations_only_with_verified_doctors_and_valid_records(seeded):
    verified = set(
        DoctorProfile.objects.filter(verification_status=VerificationStatus.VERIFIED).values_list(
            "user_id", flat=True
        )
    )
    assert set(Consultation.objects.values_list("doctor_id", flat=True)) <= verified
    completed = Consultation.objects.filter(state=ConsultationState.COMPLETED)
    assert completed.exists()
    for consultation in completed:
        assert re.match(ICD10_PATTERN, consultation.icd10_code), consultation.icd10_code
        assert consultation.diagnosis
        assert consultation.started_at <= consultation.ended_at


def test_room_logs_are_numbered_without_gaps(seeded):
    for consultation in Consultation.objects.all():
        events = ConsultationEvent.objects.filter(consultation=consultation).values_list("seq", flat=True)
        messages = ChatMessage.objects.filter(consultation=consultation).values_list("seq", flat=True)
        seqs = sorted([*events, *messages])
        assert seqs == list(range(1, consultation.last_seq + 1))


def test_ratings_equal_the_reviews(seeded):
    assert Review.objects.exists()
    for profile in DoctorProfile.objects.all():
        totals = Review.objects.filter(doctor_id=profile.user_id).aggregate(s=Sum("rating"), n=Count("id"))
        assert (profile.rating_sum, profile.rating_count) == (totals["s"] or 0, totals["n"])
    for clinic in Clinic.objects.all():
        totals = ClinicReview.objects.filter(clinic=clinic).aggregate(s=Sum("rating"), n=Count("id"))
        assert (clinic.rating_sum, clinic.rating_count) == (totals["s"] or 0, totals["n"])
    reviewed = Consultation.objects.filter(review__isnull=False)
    assert not reviewed.exclude(state=ConsultationState.COMPLETED).exists()


def test_issued_prescriptions_are_locked_with_codes(seeded):
    issued = list(Prescription.objects.filter(status=PrescriptionStatus.ISSUED))
    assert issued
    for prescription in issued:
        assert prescription.verification_code
        assert prescription.issued_at is not None
        assert prescription.consultation.state in {ConsultationState.COMPLETED, ConsultationState.IN_PROGRESS}
    prescription = issued[0]
    prescription.notes = "changed behind the service's back"
    with pytest.raises(PrescriptionLocked):
        prescription.save()
    assert "verify/" in seeded


def test_prints_how_to_log_in(seeded):
    assert ADMIN_PHONE in seeded
    assert "send-otp" in seeded
    assert "verify-otp" in seeded


def test_second_run_without_reset_is_refused(seeded):
    before = Consultation.objects.count()
    with pytest.raises(CommandError, match="--reset"):
        seed()
    assert Consultation.objects.count() == before


def test_reset_replaces_demo_data_and_keeps_real_data(seeded, patient, doctor):
    real = ConsultationFactory(patient=patient, doctor=doctor, state=ConsultationState.COMPLETED)
    first = sorted(demo_users().values_list("phone", "first_name", "last_name"))
    counts = (Consultation.objects.count(), Prescription.objects.count())
    # Someone used the demo: the audit log names demo accounts.
    demo_doctor = demo_users().filter(role=Role.DOCTOR).first()
    demo_patient = demo_users().filter(role=Role.PATIENT, patient_profile__isnull=False).first()
    AuditEntry.objects.create(
        actor=demo_doctor, subject=demo_patient, action="read", resource="patient_profile"
    )

    output = seed("--reset")

    assert "Removed" in output
    assert sorted(demo_users().values_list("phone", "first_name", "last_name")) == first  # same seed
    assert (Consultation.objects.count(), Prescription.objects.count()) == counts
    assert Consultation.objects.filter(pk=real.pk).exists()
    assert User.objects.filter(pk__in=[patient.pk, doctor.pk]).count() == 2


def test_reset_refuses_when_real_data_refers_to_demo_accounts(seeded, patient):
    demo_doctor = demo_users().filter(role=Role.DOCTOR).first()
    ConsultationFactory(patient=patient, doctor=demo_doctor)
    before = demo_users().count()
    with pytest.raises(CommandError, match="real"):
        seed("--reset")
    assert demo_users().count() == before


def test_another_seed_gives_other_data(seeded):
    first = sorted(demo_users().values_list("first_name", "last_name"))
    seed("--reset", "--seed", "7")
    assert sorted(demo_users().values_list("first_name", "last_name")) != first


def test_sizes_are_validated(db):
    with pytest.raises(CommandError, match="--patients"):
        call_command("seed_demo", "--patients", "0", stdout=StringIO())
