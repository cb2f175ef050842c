"""Reads: who sees which prescription, a patient's running medicines and dose times, the findings of
the interaction check, statistics, and the lookup behind the public verify endpoint."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Prefetch, QuerySet, Sum

from clinical.access import is_staff
from clinical.models import (
    Allergy,
    CurrentMedication,
    DoctorProfile,
    Frequency,
    PatientProfile,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from clinical.prescriptions import interactions
from telehealth.accounts.models import Role, User

# Local wall-clock dose times per frequency; PRN is taken when needed and never scheduled.
DOSE_TIMES: dict[str, tuple[time, ...]] = {
    Frequency.OD: (time(9),),
    Frequency.BD: (time(9), time(21)),
    Frequency.TDS: (time(8), time(14), time(20)),
    Frequency.QID: (time(8), time(12), time(16), time(20)),
    Frequency.QHS: (time(22),),
    Frequency.Q8H: (time(6), time(14), time(22)),
    Frequency.WEEKLY: (time(9),),
    Frequency.PRN: (),
}
MAX_DURATION_DAYS = 365  # the model's limit: older prescriptions cannot still be running


def prescription_queryset() -> QuerySet[Prescription]:
    """Prescriptions with everything the serializers and the PDF touch, in a fixed number of queries."""
    return Prescription.objects.select_related(
        "doctor",
        "doctor__doctor_profile",
        "patient",
        "patient__patient_profile",
        "consultation",
        "consultation__clinic",
        "previous",
        "correction",
    ).prefetch_related(
        Prefetch("items", queryset=PrescriptionItem.objects.select_related("medication").order_by("id"))
    )


def prescriptions_visible_to(user: User) -> QuerySet[Prescription]:
    """Staff see all; a doctor the prescriptions they wrote; a patient their own once issued (drafts
    are the doctor's work in progress)."""
    qs = prescription_queryset()
    if is_staff(user):
        return qs
    if user.role == Role.DOCTOR:
        return qs.filter(doctor=user)
    if user.role == Role.PATIENT:
        return qs.filter(patient=user).exclude(status=PrescriptionStatus.DRAFT)
    return qs.none()


def can_view_prescription(user: User, prescription: Prescription) -> bool:
    if is_staff(user):
        return True
    if user.role == Role.DOCTOR:
        return prescription.doctor_id == user.pk
    if user.role == Role.PATIENT:
        return prescription.patient_id == user.pk and prescription.status != PrescriptionStatus.DRAFT
    return False


def doctor_profile(user: User) -> DoctorProfile | None:
    try:
        return user.doctor_profile
    except ObjectDoesNotExist:
        return None


def patient_profile(user: User) -> PatientProfile | None:
    try:
        return user.patient_profile
    except ObjectDoesNotExist:
        return None


def correction_of(prescription: Prescription) -> Prescription | None:
    try:
        return prescription.correction
    except ObjectDoesNotExist:
        return None


def user_zone(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def medication_label(item: PrescriptionItem) -> str:
    medication = item.medication
    brand = f" ({medication.brand_name})" if medication.brand_name else ""
    return f"{medication.generic_name}{brand} {medication.strength} {medication.form}"


# --- A patient's running medicines ---------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    """When an item of an issued prescription runs: from the moment of issue until local midnight at
    the end of its last day (day 1 is the day of issue, in the patient's zone)."""

    starts_at: datetime
    ends_at: datetime
    first_day: date

    def is_running(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


def course_of(item: PrescriptionItem, issued_at: datetime, zone: zoneinfo.ZoneInfo) -> Course:
    first_day = issued_at.astimezone(zone).date()
    last_midnight = datetime.combine(first_day + timedelta(days=item.duration_days), time(0), tzinfo=zone)
    return Course(starts_at=issued_at, ends_at=last_midnight.astimezone(UTC), first_day=first_day)


def active_items(patient: User, now: datetime) -> list[tuple[PrescriptionItem, Course]]:
    """Items of the patient's issued (not superseded) prescriptions whose course has not ended, newest
    prescription first."""
    zone = user_zone(patient)
    items = (
        PrescriptionItem.objects.filter(
            prescription__patient=patient,
            prescription__status=PrescriptionStatus.ISSUED,
            prescription__issued_at__gt=now - timedelta(days=MAX_DURATION_DAYS + 1),
        )
        .select_related("medication", "prescription", "prescription__doctor")
        .order_by("-prescription__issued_at", "id")
    )
    running = []
    for item in items:
        course = course_of(item, item.prescription.issued_at, zone)
        if course.ends_at > now:
            running.append((item, course))
    return running


def reminder_schedule(patient: User, *, days: int, now: datetime) -> dict[str, Any]:
    """Dose times of the running items over the next ``days`` days, computed in the patient's zone
    and returned in UTC with the local time beside it. PRN items are listed apart, unscheduled."""
    zone = user_zone(patient)
    until = now + timedelta(days=days)
    doses, unscheduled = [], []
    for item, course in active_items(patient, now):
        times = DOSE_TIMES[item.frequency]
        if not times:
            unscheduled.append(_dose_item(item))
            continue
        low, high = max(now, course.starts_at), min(until, course.ends_at)
        day = low.astimezone(zone).date()
        while day <= high.astimezone(zone).date():
            weekly_skip = item.frequency == Frequency.WEEKLY and (day - course.first_day).days % 7
            if not weekly_skip:
                for wall in times:
                    local = datetime.combine(day, wall, tzinfo=zone)
                    at = local.astimezone(UTC)
                    if low <= at < high:
                        doses.append({"at": at, "local_time": local.isoformat(), **_dose_item(item)})
            day += timedelta(days=1)
    doses.sort(key=lambda d: (d["at"], d["item"]))
    return {
        "timezone": str(zone),
        "from_time": now,
        "until": until,
        "days": days,
        "doses": doses,
        "unscheduled": unscheduled,
    }


def _dose_item(item: PrescriptionItem) -> dict[str, Any]:
    return {
        "prescription": item.prescription_id,
        "item": item.pk,
        "medication": item.medication,
        "dose": item.dose,
        "route": item.route,
        "frequency": item.frequency,
        "instructions": item.instructions,
    }


# --- The interaction check -----------------------------------------------------------------------


def _drug(item: PrescriptionItem, against: str) -> interactions.Drug:
    return interactions.Drug(
        label=medication_label(item),
        ingredients=interactions.ingredients_of(item.medication.generic_name),
        drug_class=item.medication.drug_class,
        against=against,
    )


def _chain(prescription: Prescription) -> set:
    """This prescription and the versions it corrects: a correction replaces them, so they are not
    'other' running prescriptions."""
    ids = {prescription.pk}
    previous_id = prescription.previous_id
    while previous_id is not None and previous_id not in ids:
        ids.add(previous_id)
        previous_id = (
            Prescription.objects.filter(pk=previous_id).values_list("previous_id", flat=True).first()
        )
    return ids


def findings_for(prescription: Prescription, *, now: datetime) -> list[interactions.Finding]:
    """Check the prescription's items against each other, the patient's recorded current medicines,
    the items of the patient's other running prescriptions, and the patient's allergies."""
    items = [
        _drug(item, interactions.AGAINST_PRESCRIPTION)
        for item in prescription.items.select_related("medication").order_by("id")
    ]
    patient = prescription.patient
    others = [
        interactions.Drug(
            label=medication.name,
            ingredients=interactions.ingredients_in_text(medication.name),
            against=interactions.AGAINST_CURRENT_MEDICATION,
        )
        for medication in CurrentMedication.objects.filter(patient=patient).order_by("id")
    ]
    excluded = _chain(prescription)
    others += [
        _drug(item, interactions.AGAINST_ACTIVE_PRESCRIPTION)
        for item, _ in active_items(patient, now)
        if item.prescription_id not in excluded
    ]
    allergies = [
        interactions.Allergy(substance=a.substance, severity=a.severity)
        for a in Allergy.objects.filter(patient=patient).order_by("id")
    ]
    return interactions.check(items, others, allergies)


# --- Statistics ----------------------------------------------------------------------------------


def prescription_stats(
    user: User,
    *,
    issued_after: datetime | None = None,
    issued_before: datetime | None = None,
    doctor_id=None,
    limit: int = 20,
) -> dict[str, Any]:
    """Counts of current (issued, not superseded) prescriptions by doctor and by medicine. A doctor
    only ever sees their own numbers."""
    qs = Prescription.objects.filter(status=PrescriptionStatus.ISSUED)
    if not is_staff(user):
        qs = qs.filter(doctor=user)
    elif doctor_id is not None:
        qs = qs.filter(doctor_id=doctor_id)
    if issued_after is not None:
        qs = qs.filter(issued_at__gte=issued_after)
    if issued_before is not None:
        qs = qs.filter(issued_at__lt=issued_before)
    items = PrescriptionItem.objects.filter(prescription__in=qs.values("pk"))
    by_doctor = (
        qs.values("doctor_id", "doctor__first_name", "doctor__last_name")
        .annotate(prescriptions=Count("pk"))
        .order_by("-prescriptions", "doctor__last_name", "doctor_id")[:limit]
    )
    by_medicine = (
        items.values(
            "medication_id",
            "medication__generic_name",
            "medication__brand_name",
            "medication__strength",
            "medication__form",
        )
        .annotate(
            prescriptions=Count("prescription", distinct=True),
            items=Count("pk"),
            total_quantity=Sum("quantity"),
        )
        .order_by("-prescriptions", "medication__generic_name", "medication_id")[:limit]
    )
    totals = items.aggregate(items=Count("pk"), prescriptions=Count("prescription", distinct=True))
    return {
        "total_prescriptions": qs.count(),
        "total_items": totals["items"],
        "by_doctor": [
            {
                "doctor": row["doctor_id"],
                "name": f"{row['doctor__first_name']} {row['doctor__last_name']}".strip(),
                "prescriptions": row["prescriptions"],
            }
            for row in by_doctor
        ],
        "by_medicine": [
            {
                "medication": row["medication_id"],
                "generic_name": row["medication__generic_name"],
                "brand_name": row["medication__brand_name"],
                "strength": row["medication__strength"],
                "form": row["medication__form"],
                "prescriptions": row["prescriptions"],
                "items": row["items"],
                "total_quantity": row["total_quantity"] or 0,
            }
            for row in by_medicine
        ],
    }


# --- Public verification -------------------------------------------------------------------------

# Crockford's base 32: no I, L, O or U, so a code read aloud or retyped is hard to get wrong.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
_CODE_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalise_code(raw: str) -> str | None:
    code = re.sub(r"[\s-]+", "", raw).upper().translate(_CODE_TYPOS)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def find_by_code(raw: str) -> Prescription | None:
    code = normalise_code(raw)
    if code is None:
        return None
    return (
        prescription_queryset()
        .filter(
            verification_code=code,
            status__in=[PrescriptionStatus.ISSUED, PrescriptionStatus.SUPERSEDED],
        )
        .first()
    )


def initials(user: User) -> str:
    parts = [p for p in (user.first_name, user.last_name) if p.strip()]
    return "".join(f"{p.strip()[0].upper()}." for p in parts) or "?"


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
