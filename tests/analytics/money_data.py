"""A small seeded world for the money and reach figures (revenue, geography, doctor performance),
as plain data (``PEOPLE``, ``CLINICS``, ``PAYMENTS``, ``CONSULTATIONS``): the tests compute every
expected figure from it alone; ``money_fixtures.money_world`` writes it to the database.

The window the tests ask about is 1-3 March 2026, in Asia/Kolkata (from 28 Feb 18:30 UTC to 3 Mar
18:30 UTC) and in UTC; many rows sit right around those four instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

FROM, TO = date(2026, 3, 1), date(2026, 3, 3)
LONG_AGO = "2025-06-01T00:00:00"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- The plain data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    role: str
    first: str
    last: str
    joined: str = LONG_AGO
    place: tuple[str, str, str] | None = None  # patients: their profile address (None: no profile)
    active: bool = True
    clinics: tuple[str, ...] = ()  # doctors: clinic memberships
    specialisations: tuple[str, ...] = ()  # doctors
    profile: bool = True  # doctors: has a DoctorProfile


PEOPLE: dict[str, Person] = {
    "ada": Person("admin", "Ada", "Admin"),
    "sam": Person("superadmin", "Sam", "Super"),
    "dana": Person(
        "doctor", "Dana", "Das", clinics=("heart", "skin"), specialisations=("Cardiology", "General")
    ),
    "derek": Person(
        "doctor", "Derek", "Dsouza", clinics=("skin", "pending"), specialisations=("Dermatology",)
    ),
    # No clinic, no profile (so no specialisation).
    "lena": Person("doctor", "Lena", "Lone", profile=False),
    # Joined after the Kolkata window (4 Mar 00:15 there), inside the UTC one.
    "newdoc": Person("doctor", "Nina", "New", joined="2026-03-03T18:45:00", clinics=("heart",)),
    "alice": Person("patient", "Alice", "Apple", place=("IN", "Karnataka", "Bengaluru")),
    "bob": Person("patient", "Bob", "Brown", place=("US", "", "")),
    "carol": Person("patient", "Carol", "Cherry"),  # no profile
    "late": Person(
        "patient", "Lata", "Late", joined="2026-03-03T18:45:00", place=("IN", "Karnataka", "Bengaluru")
    ),
    "gone": Person("patient", "Gita", "Gone", place=("IN", "Maharashtra", "Mumbai"), active=False),
    # Exactly the end of the UTC window: outside both.
    "edge": Person(
        "patient", "Eddie", "Edge", joined="2026-03-04T00:00:00", place=("IN", "Maharashtra", "Mumbai")
    ),
}


@dataclass(frozen=True)
class ClinicRow:
    name: str
    place: tuple[str, str, str]
    verified: bool = True
    created: str = LONG_AGO


CLINICS: dict[str, ClinicRow] = {
    "heart": ClinicRow("Heart Care", ("IN", "Karnataka", "Bengaluru")),
    "skin": ClinicRow("Skin Clinic", ("IN", "Maharashtra", "Mumbai")),
    "pending": ClinicRow("Pune Pending", ("IN", "Maharashtra", "Pune"), verified=False),
    # Registered 4 Mar 00:15 Kolkata (3 Mar in UTC).
    "newclinic": ClinicRow("New Clinic", ("IN", "Karnataka", "Bengaluru"), created="2026-03-03T18:45:00"),
}


@dataclass(frozen=True)
class PaymentRow:
    key: str
    currency: str
    gateway: str
    doctor: str
    amount: int
    status: str
    at: str | None = None
    clinic: str | None = None
    refunds: tuple[tuple[int, str], ...] = ()  # (amount, status)
    # The ledger as payments.services writes it: earning, then one reversal per succeeded refund,
    # and a dispute hold (which the figures leave out).
    earning: int = 0
    reversals: tuple[int, ...] = ()
    hold: int = 0

    @property
    def refunded(self) -> int:
        return sum(amount for amount, status in self.refunds if status == "succeeded")


PAYMENTS: list[PaymentRow] = [
    # Kolkata 1 Mar 10:30.
    PaymentRow(
        "p1", "INR", "stripe", "dana", 50_000, "succeeded", "2026-03-01T05:00:00", "heart", earning=42_500
    ),
    # Kolkata 1 Mar 00:10 (28 Feb in UTC); 100.00 refunded, a failed refund that does not count.
    PaymentRow(
        "p2",
        "INR",
        "razorpay",
        "dana",
        40_000,
        "partially_refunded",
        "2026-02-28T18:40:00",
        refunds=((10_000, "succeeded"), (5_000, "failed")),
        earning=34_000,
        reversals=(-8_500,),
    ),
    # Kolkata 3 Mar 23:50; disputed (the hold is not a change of revenue).
    PaymentRow(
        "p3",
        "INR",
        "razorpay",
        "derek",
        30_000,
        "disputed",
        "2026-03-03T18:20:00",
        "skin",
        earning=25_500,
        hold=-25_500,
    ),
    # Refunded in full in two parts: no revenue, no fee.
    PaymentRow(
        "p4",
        "INR",
        "stripe",
        "derek",
        20_000,
        "refunded",
        "2026-03-02T10:00:00",
        "skin",
        refunds=((5_000, "succeeded"), (15_000, "succeeded")),
        earning=17_000,
        reversals=(-4_250, -12_750),
    ),
    PaymentRow("p5", "USD", "stripe", "dana", 4_000, "succeeded", "2026-03-02T12:00:00", earning=3_400),
    # Kolkata 4 Mar 00:15: only in the UTC window.
    PaymentRow("p6", "USD", "payu", "lena", 6_000, "succeeded", "2026-03-03T18:45:00", earning=5_100),
    # Outside both: Kolkata 28 Feb 23:30, and exactly the (exclusive) end of the UTC window.
    PaymentRow("early", "INR", "stripe", "dana", 99_000, "succeeded", "2026-02-28T18:00:00", earning=84_150),
    PaymentRow("late", "INR", "stripe", "dana", 77_000, "succeeded", "2026-03-04T00:00:00", earning=65_450),
    # Never paid: never counted.
    PaymentRow("pending", "INR", "stripe", "dana", 11_000, "pending"),
    PaymentRow("failed", "INR", "payu", "derek", 12_000, "failed"),
]


@dataclass(frozen=True)
class ConsultationRow:
    doctor: str
    patient: str
    type: str
    state: str
    start: str
    clinic: str | None = None
    waited: str | None = None  # waiting_since
    started: str | None = None
    rating: int | None = None


CONSULTATIONS: list[ConsultationRow] = [
    ConsultationRow(
        "dana",
        "alice",
        "video",
        "completed",
        "2026-03-01T04:00:00",
        waited="2026-03-01T03:58:00",
        started="2026-03-01T04:03:00",
        rating=5,
    ),
    # Exactly Kolkata midnight 1 Mar (28 Feb in UTC); in clinic: counted at the clinic.
    ConsultationRow(
        "dana",
        "bob",
        "in_clinic",
        "completed",
        "2026-02-28T18:30:00",
        clinic="skin",
        waited="2026-02-28T18:28:00",
        started="2026-02-28T18:38:00",
        rating=4,
    ),
    ConsultationRow("dana", "alice", "video", "cancelled", "2026-03-02T09:00:00"),
    # Kolkata 3 Mar 23:59; the patient has no address.
    ConsultationRow("dana", "carol", "audio", "no_show", "2026-03-03T18:29:00", waited="2026-03-03T18:29:00"),
    ConsultationRow("dana", "alice", "video", "rescheduled", "2026-03-02T10:00:00"),
    # Kolkata 4 Mar 00:00: only in the UTC window.
    ConsultationRow("dana", "alice", "in_clinic", "scheduled", "2026-03-03T18:30:00", clinic="heart"),
    ConsultationRow(
        "derek",
        "alice",
        "in_clinic",
        "completed",
        "2026-03-02T05:00:00",
        clinic="heart",
        waited="2026-03-02T04:55:00",
        started="2026-03-02T05:15:30",
        rating=3,
    ),
    # Started before the patient waited at all: no response time.
    ConsultationRow(
        "derek", "bob", "video", "completed", "2026-03-02T06:00:00", started="2026-03-02T06:01:00"
    ),
    # A video consultation booked through a clinic: at the patient's address, not the clinic's.
    ConsultationRow(
        "derek",
        "bob",
        "video",
        "completed",
        "2026-03-02T07:00:00",
        clinic="skin",
        waited="2026-03-02T07:00:00",
        started="2026-03-02T07:02:00",
        rating=2,
    ),
    # Outside both: Kolkata 28 Feb 23:59, and the exclusive end of the UTC window.
    ConsultationRow("derek", "alice", "video", "completed", "2026-02-28T18:29:00", rating=1),
    ConsultationRow("derek", "alice", "video", "completed", "2026-03-04T00:00:00", rating=1),
]


# --- Reading answers -----------------------------------------------------------------------------


def data_of(response) -> Any:
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_of(response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]
