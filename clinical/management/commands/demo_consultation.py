"""Create a consultation starting now between two phone numbers, for trying the rooms locally."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from clinical.models import Consultation
from telehealth.accounts.models import Role, User
from telehealth.accounts.phone import normalize_phone


class Command(BaseCommand):
    help = "Create a video consultation starting now (creates the patient and doctor if needed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--patient", required=True, help="Patient phone, e.g. +14155552671")
        parser.add_argument("--doctor", required=True, help="Doctor phone, e.g. +14155552672")
        parser.add_argument("--minutes", type=int, default=30)

    def handle(self, *args, patient: str, doctor: str, minutes: int, **options) -> None:
        try:
            patient_user = self._user(patient, Role.PATIENT)
            doctor_user = self._user(doctor, Role.DOCTOR)
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        consultation = Consultation.objects.create(
            patient=patient_user,
            doctor=doctor_user,
            scheduled_start=timezone.now(),
            duration_minutes=minutes,
        )
        self.stdout.write(str(consultation.pk))

    def _user(self, phone: str, role: str) -> User:
        user = User.objects.filter(phone=normalize_phone(phone)).first()
        if user is None:
            return User.objects.create_user(phone, role=role)
        if user.role != role:
            raise CommandError(f"{user.phone} is a {user.role}, not a {role}.")
        return user
