"""The clinical jobs the scheduler runs: appointment reminders, medication reminders and no-show
detection. Plain functions with an explicit ``now``; the Celery tasks in ``clinical.tasks`` only
call them.

Every job is safe to run twice, late, or twice at the same moment:

- reminders carry a dedupe key (per consultation and window, per medicine dose), so the second
  run stores and sends nothing (``telehealth.notifications.services.notify``). Each job first
  leaves out what was already sent, so a tick does not retry hundreds of doomed inserts, and the
  medication job starts where the last complete run stopped;
- a no-show is one guarded state change under a row lock: two runs mark it once.

Windows have a tolerance: a tick that comes late, or one that never comes, is made up by the next
one, as long as the reminder still makes sense (a "starts soon" reminder is not sent after the
start, a dose reminder not half an hour after the dose).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from clinical.consultations import services as consultations
from clinical.models import (
    Consultation,
    ConsultationState,
    NoShowParty,
    Prescription,
    PrescriptionStatus,
)
from clinical.prescriptions import selectors as prescriptions
from telehealth.accounts.models import Role, User
from telehealth.notifications import events as notifications
from telehealth.notifications.models import Notification

logger = logging.getLogger("clinical.jobs")

S = ConsultationState
T = TypeVar("T")
# Rows per "what was sent already?" query.
CHUNK = 500


# --- Appointment reminders -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderWindow:
    """Send the ``name`` reminder once the start is ``lead`` away or less, while it is still more
    than ``latest`` away. With ``booked_before_due`` only bookings that existed when the reminder
    fell due get it: a booking made 20 hours ahead gets no "tomorrow" reminder right after its
    confirmation."""

    name: str  # "24h" | "15m": notifications.events.appointment_reminder's window
    lead: timedelta
    latest: timedelta
    booked_before_due: bool


APPOINTMENT_REMINDERS = (
    ReminderWindow("24h", lead=timedelta(hours=24), latest=timedelta(hours=22), booked_before_due=True),
    ReminderWindow("15m", lead=timedelta(minutes=15), latest=timedelta(0), booked_before_due=False),
)


def reminder_key(window: str, consultation_id: Any) -> str:
    """The dedupe key ``notifications.events.appointment_reminder`` stores. Used here only to skip
    what was sent: if the two ever disagreed, the event's own key would still send once."""
    return f"reminder-{window}:{consultation_id}"


def due_for_reminder(window: ReminderWindow, now: datetime) -> QuerySet[Consultation]:
    """Confirmed bookings (``scheduled``: paid, or free) whose ``window`` reminder is due at ``now``.
    Unpaid, cancelled and moved bookings never are."""
    due = Consultation.objects.filter(
        state=S.SCHEDULED,
        scheduled_start__gt=now + window.latest,
        scheduled_start__lte=now + window.lead,
    )
    if window.booked_before_due:
        due = due.filter(created_at__lte=F("scheduled_start") - window.lead)
    return due.order_by("scheduled_start", "pk").only(
        "pk", "patient_id", "doctor_id", "scheduled_start", "state"
    )


def send_appointment_reminders(*, now: datetime | None = None) -> int:
    """Send every due appointment reminder to patient and doctor; returns how many notifications
    were stored. Run it every minute: each reminder goes out once, whatever the number of runs."""
    now = now or timezone.now()
    sent = 0
    for window in APPOINTMENT_REMINDERS:
        pending = _not_yet_sent(
            list(due_for_reminder(window, now)),
            key=lambda c, name=window.name: reminder_key(name, c.pk),
            recipients=lambda c: (c.patient_id, c.doctor_id),
        )
        for consultation in pending:
            try:
                with transaction.atomic():
                    sent += len(notifications.appointment_reminder(consultation, window=window.name))
            except Exception:  # one bad row must not hold up everyone else's reminder
                logger.exception("%s reminder for consultation %s failed", window.name, consultation.pk)
    if sent:
        logger.info("sent %d appointment reminders", sent)
    return sent


def _not_yet_sent(
    things: list[T], *, key: Callable[[T], str], recipients: Callable[[T], Iterable[Any]]
) -> list[T]:
    """``things`` less those whose notification (``key``) every recipient already has."""
    pending = []
    for start in range(0, len(things), CHUNK):
        chunk = things[start : start + CHUNK]
        keys = {key(thing) for thing in chunk}
        users = {user_id for thing in chunk for user_id in recipients(thing)}
        have = set(
            Notification.objects.filter(dedupe_key__in=keys, recipient_id__in=users).values_list(
                "recipient_id", "dedupe_key"
            )
        )
        pending += [
            thing
            for thing in chunk
            if any((user_id, key(thing)) not in have for user_id in recipients(thing))
        ]
    return pending


# --- Medication reminders --------------------------------------------------------------------------

# A dose reminder still goes out this long after the dose (a late or skipped tick), never later:
# "take your 9 o'clock tablet" at noon would do more harm than good.
MEDICATION_REMINDER_LOOKBACK = timedelta(minutes=30)
_DOSE_WALL_TIMES = frozenset(t for times in prescriptions.DOSE_TIMES.values() for t in times)
_SCHEDULED_FREQUENCIES = [f for f, times in prescriptions.DOSE_TIMES.items() if times]


def medication_key(item_id: Any, dose_at: datetime) -> str:
    """The dedupe key ``notifications.events.medication_reminder`` stores (see ``reminder_key``)."""
    return f"medication:{item_id}:{dose_at.astimezone(UTC).strftime('%Y%m%dT%H%MZ')}"


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """A stored zone name as ``prescriptions.user_zone`` reads it (unknown names: UTC)."""
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _has_dose_time_between(zone: zoneinfo.ZoneInfo, start: datetime, end: datetime) -> bool:
    """Does any dose wall-clock time, read in ``zone``, fall in ``[start, end]``?"""
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    day = first
    while day <= last:
        for wall in _DOSE_WALL_TIMES:
            if start <= datetime.combine(day, wall, tzinfo=zone) <= end:
                return True
        day += timedelta(days=1)
    return False


def patients_with_doses_between(start: datetime, end: datetime) -> QuerySet[User]:
    """Active patients with a recent issued prescription of scheduled medicines who live in a time
    zone where a dose time falls in ``[start, end]``. Most minutes of the day that is nobody, so a
    job run every minute costs one query then."""
    candidates = User.objects.filter(
        role=Role.PATIENT,
        is_active=True,
        pk__in=Prescription.objects.filter(
            status=PrescriptionStatus.ISSUED,
            issued_at__gt=start - timedelta(days=prescriptions.MAX_DURATION_DAYS + 1),
            items__frequency__in=_SCHEDULED_FREQUENCIES,
        ).values("patient_id"),
    )
    names = set(candidates.order_by().values_list("timezone", flat=True).distinct())
    due = [name for name in names if _has_dose_time_between(_zone(name), start, end)]
    return candidates.filter(timezone__in=due).order_by("pk")


def due_doses(patient: User, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The patient's doses in ``[start, end]`` (``prescriptions.reminder_schedule``: issued,
    running items, at the dose times of the patient's zone)."""
    schedule = prescriptions.reminder_schedule(patient, days=1, now=start)
    return [dose for dose in schedule["doses"] if dose["at"] <= end]


# Where the last complete run got to, shared through the cache (Redis in production): the next
# run starts just after it, so each dose time is looked at by one run rather than by every run of
# the look-back. Missing (a failed run, a cache restart, local memory): the whole look-back again;
# the dedupe keys make that harmless.
MEDICATION_DONE_UNTIL_KEY = "clinical:medication-reminders:done-until"


def _medication_window_start(now: datetime) -> datetime:
    earliest = now - MEDICATION_REMINDER_LOOKBACK
    try:
        done_until = cache.get(MEDICATION_DONE_UNTIL_KEY)
    except Exception:  # no cache, no shortcut
        logger.warning("could not read the medication reminder watermark", exc_info=True)
        return earliest
    if isinstance(done_until, datetime) and earliest <= done_until < now:
        return done_until + timedelta(microseconds=1)
    return earliest


def _medication_window_done(now: datetime) -> None:
    try:
        cache.set(MEDICATION_DONE_UNTIL_KEY, now, timeout=int(MEDICATION_REMINDER_LOOKBACK.total_seconds()))
    except Exception:
        logger.warning("could not store the medication reminder watermark", exc_info=True)


def send_medication_reminders(*, now: datetime | None = None) -> int:
    """Remind patients of their doses that fell due since the last complete run (at most
    ``MEDICATION_REMINDER_LOOKBACK`` ago), once per dose; returns how many reminders were stored.
    Run it every minute."""
    now = now or timezone.now()
    start = _medication_window_start(now)
    sent, failed = 0, False
    for patient in list(patients_with_doses_between(start, now)):
        try:
            doses = _not_yet_sent(
                due_doses(patient, start, now),
                key=lambda dose: medication_key(dose["item"], dose["at"]),
                recipients=lambda _dose, patient_id=patient.pk: (patient_id,),
            )
            with transaction.atomic():
                for dose in doses:
                    reminded = notifications.medication_reminder(
                        patient.pk,
                        prescription_id=dose["prescription"],
                        item_id=dose["item"],
                        dose_at=dose["at"],
                    )
                    sent += reminded is not None
        except Exception:
            failed = True  # the next run looks at this window again
            logger.exception("medication reminders for patient %s failed", patient.pk)
    if not failed:
        _medication_window_done(now)
    if sent:
        logger.info("sent %d medication reminders", sent)
    return sent


# --- No-shows --------------------------------------------------------------------------------------

# Not started yet: the patient may be in the waiting room, the doctor may be in the room alone
# (which changes no state), or nobody came.
NOT_STARTED = frozenset({S.SCHEDULED, S.WAITING})


def no_show_grace() -> timedelta:
    return timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)


def overdue(now: datetime) -> QuerySet[Consultation]:
    """Consultations still not started ``NO_SHOW_GRACE_MINUTES`` after their start."""
    return Consultation.objects.filter(state__in=NOT_STARTED, scheduled_start__lte=now - no_show_grace())


def no_show_party_for(consultation: Consultation) -> str:
    """Who did not come. The patient checked in (the waiting room) by the end of the grace period
    and was never admitted: the doctor. Nobody came, only the doctor came (a doctor alone in the
    room changes no state), or the patient checked in only after the grace period: the patient.
    The same default as the REST action, where a doctor can only report the patient's no-show."""
    deadline = consultation.scheduled_start + no_show_grace()
    if (
        consultation.state == S.WAITING
        and consultation.waiting_since is not None
        and consultation.waiting_since <= deadline
    ):
        return NoShowParty.DOCTOR
    return NoShowParty.PATIENT


def mark_no_show(consultation_id: Any, *, now: datetime | None = None) -> Consultation | None:
    """Record a no-show by the system (no actor) if the consultation is still overdue: the room
    event, ``no_show_party``, the ``clinical.hooks`` announcement (payments refunds a doctor's
    no-show), and a notification to both sides, all after commit. None when there was nothing to
    do: started, cancelled or marked meanwhile, or another run holds it right now."""
    now = now or timezone.now()
    with transaction.atomic():
        consultation = (
            overdue(now).select_for_update(skip_locked=True).filter(pk=consultation_id).order_by().first()
        )
        if consultation is None:
            return None
        party = no_show_party_for(consultation)
        consultation = consultations.record_system_no_show(
            consultation.pk, party=party, expected_from=NOT_STARTED, now=now
        )
        if consultation is None:  # cannot happen under the lock; never mark twice if it does
            return None
    logger.info("consultation %s marked no-show (%s did not come)", consultation.pk, party)
    return consultation


def detect_no_shows(*, now: datetime | None = None) -> int:
    """Mark every overdue consultation a no-show; returns how many this run marked. Run it every
    minute; two runs at once mark each consultation once."""
    now = now or timezone.now()
    marked = 0
    for consultation_id in list(overdue(now).order_by("scheduled_start", "pk").values_list("pk", flat=True)):
        try:
            marked += mark_no_show(consultation_id, now=now) is not None
        except Exception:
            logger.exception("could not mark consultation %s a no-show", consultation_id)
    return marked
