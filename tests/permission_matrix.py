"""The permission matrix: every object endpoint under /api/ by every member of the cast.

Three parts, used by ``tests/test_permission_matrix.py``:

- ``api_routes()`` walks the URL configuration and returns every route under ``api/`` with the HTTP
  methods its view answers. ``EXCLUDED_ROUTES`` is the short, explained list of routes that are not
  in the matrix; everything else must have a row, so a new endpoint fails the coverage test until
  someone decides who may call it.
- ``build_world()`` builds one consistent scenario around patient A: their chart, consultations in
  the states the lifecycle endpoints need, prescriptions, a clinic, and the unrelated people who
  must not see any of it. ``World.canaries`` are strings of A's health data that a denied answer
  (and any answer to someone who may not see A) must never contain.
- ``MATRIX`` says, per route and method, which actors are allowed. Everyone else is denied:
  401 for anonymous, 403 or 404 for the rest, never a 2xx and never a 5xx.

The rules the rows encode come from each area's documented rules, not from observed behaviour:
``clinical/access.py`` (who sees a patient), ``clinical/patients/services.py`` (who writes which
part of a chart), ``clinical/consultations/services.py`` (the table in its docstring),
``clinical/prescriptions/services.py`` and ``selectors.py`` (only the prescribing doctor writes;
patients never see drafts), ``clinical/clinics/services.py`` (clinic roles), the table in
``payments/views.py`` and the view docstrings of ``clinical/doctors/views.py``,
``telehealth/accounts/views.py`` and ``telehealth/audit/views.py``.

Bodies: an allowed actor sends a minimal valid body, so a 400 means the row is wrong. Denied actors
send the same valid body (a valid request from the wrong person must still be refused). Whether the
refusal also comes before validation is recorded per row in ``Row.validates_first`` (the denied
actors who get a 400 for an empty body first) and checked by ``test_denied_before_validation``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from analytics.models import ReportDefinition, ReportRun
from analytics.reports.specs import spec_of
from clinical.documents import store_document
from clinical.models import (
    Allergy,
    AvailabilityException,
    AvailabilityRule,
    Condition,
    ConsultationNote,
    CurrentMedication,
    DocumentKind,
    Education,
    EmergencyContact,
    Experience,
    FamilyHistory,
    Insurance,
    MedicalRecord,
    PatientNote,
    PatientProfile,
    Surgery,
    VitalSign,
)
from clinical.prescriptions import services as prescribing
from clinical.prescriptions.selectors import format_code
from payments.models import Coupon, Payment
from telehealth.accounts.services import issue_tokens
from telehealth.audit.models import AuditEntry
from telehealth.notifications.services import DeviceRegistration, notify, register_device
from tests.clinical.clinics.factories import (
    ClinicFactory,
    ClinicMemberFactory,
    ClinicServiceFactory,
    InventoryItemFactory,
    MedicationFactory,
)
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory, phone_number

# --- The cast ---------------------------------------------------------------------------------------

PATIENT_A = "patient_a"
PATIENT_B = "patient_b"
DOCTOR_OF_A = "doctor_of_a"  # has consultations with A and wrote A's prescriptions
OTHER_DOCTOR = "other_doctor"  # verified, B's doctor, no relation to A
CLINIC_ADMIN = "clinic_admin"  # a patient-role user who runs the clinic where A was seen
ADMIN = "admin"
SUPERADMIN = "superadmin"
ANONYMOUS = "anonymous"

ACTORS = (PATIENT_A, PATIENT_B, DOCTOR_OF_A, OTHER_DOCTOR, CLINIC_ADMIN, ADMIN, SUPERADMIN, ANONYMOUS)
STAFF = frozenset({ADMIN, SUPERADMIN})
PATIENT_ROLE = frozenset({PATIENT_A, PATIENT_B, CLINIC_ADMIN})
DOCTORS = frozenset({DOCTOR_OF_A, OTHER_DOCTOR})
AUTHENTICATED = frozenset(ACTORS) - {ANONYMOUS}
EVERYONE = frozenset(ACTORS)
# Who may see A's health data at all (clinical.access.can_view_patient): A, A's doctor, staff.
CAN_SEE_A = frozenset({PATIENT_A, DOCTOR_OF_A}) | STAFF
CARE_TEAM = frozenset({DOCTOR_OF_A}) | STAFF  # doctors' private notes: never the patient

ALLOW, DENY = "allow", "deny"

# --- Routes --------------------------------------------------------------------------------------

# Routes under /api/ that are deliberately not in the matrix. Keys are URL patterns as Django joins
# them (``ResolverMatch.route``).
EXCLUDED_ROUTES: dict[str, str] = {
    # Login plumbing: public by design, no object, rate-limited; covered by tests/accounts/.
    "api/auth/send-otp/": "login: no object",
    "api/auth/verify-otp/": "login: no object",
    "api/auth/refresh/": "token rotation: no object",
    "api/auth/logout/": "token revocation: no object",
    # Documentation of the API itself.
    "api/schema/": "OpenAPI document",
    "api/docs/": "Swagger UI",
    "api/redoc/": "ReDoc",
    "api/asyncapi/": "AsyncAPI document of the WebSocket protocol",
    # Payment providers' webhooks: no user, authenticated by the body's signature; covered by
    # tests/payments/test_api_webhooks.py.
    "api/payments/webhooks/stripe/": "Stripe webhook: signed body, no user",
    "api/payments/webhooks/razorpay/": "Razorpay webhook: signed body, no user",
    "api/payments/webhooks/payu/": "PayU webhook: signed body, no user",
    # The envelope 404 for unknown /api/ paths: answers every method the same.
    "api/.*$": "catch-all 404",
}

# OPTIONS and HEAD are answered by every view (metadata / GET without a body): not in the matrix.
_IGNORED_METHODS = {"options", "head"}


def _join_route(prefix: str, route: str) -> str:
    """As ``URLResolver._join_route``: the second route loses its leading ``^``."""
    return route if not prefix else prefix + route.removeprefix("^")


def _methods_of(callback) -> frozenset[str]:
    actions = getattr(callback, "actions", None)  # a viewset bound with {method: action}
    if actions:
        return frozenset(method.upper() for method in actions if method not in _IGNORED_METHODS)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a plain function view answers whatever it is sent
        return frozenset({"*"})
    return frozenset(
        method.upper()
        for method in view_class.http_method_names
        if method not in _IGNORED_METHODS and hasattr(view_class, method)
    )


def api_routes() -> dict[str, frozenset[str]]:
    """Every URL pattern under ``api/`` with the HTTP methods its view answers."""
    routes: dict[str, frozenset[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = _join_route(prefix, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                routes[route] = _methods_of(pattern.callback)

    walk(get_resolver().url_patterns, "")
    return {route: methods for route, methods in routes.items() if route.startswith("api/")}


def readable_route(route: str) -> str:
    """``api/prescriptions/(?P<pk>[0-9a-f...]+)/check/$`` → ``/api/prescriptions/{pk}/check/``."""
    out, i = [], 0
    while i < len(route):
        if route.startswith("(?P<", i):
            name_end = route.index(">", i)
            depth, j = 0, i
            while True:
                depth += {"(": 1, ")": -1}.get(route[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append("{" + route[i + 4 : name_end] + "}")
            i = j
        else:
            out.append(route[i])
            i += 1
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", "".join(out))
    return "/" + text.replace("^", "").replace("$", "")


# --- The world -----------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"

# A's health data. Made-up words, so a hit can only be a leak.
A_PHONE = phone_number(77_000_001)
CANARIES: dict[str, str] = {
    "phone": A_PHONE.removeprefix("+91"),  # the national digits: matches any formatting
    "date_of_birth": "1987-03-14",
    "condition": "Quellbrook syndrome",
    "allergy": "Larkspur resin",
    "surgery": "Fennimore graft",
    "family_history": "Ostrander palsy",
    "current_medication": "Wexlerine drops",
    "insurance": "Halcyon Mutual",
    "emergency_contact": "Perpetua Vance",
    "record": "Thornbury panel",
    "record_by_doctor": "Ashcombe summary",
    "patient_note": "Suspected Orrery disorder",
    "document_name": "thornbury-scan",
    "chief_complaint": "Tinnitus of Marlowe",
    "diagnosis": "Vantablack fever",
    "treatment_plan": "Rest at Quimby",
    "consultation_note": "Consider Ibbotson test",
    "prescription_notes": "Take with yarrow tea",
    "medicine": "Canarycillin",
    "draft_medicine": "Draftazolam",
}
MEDICINES = frozenset({"medicine", "draft_medicine"})
# What A may not see of their own record: doctors' private notes and unissued prescriptions.
CARE_TEAM_ONLY = frozenset({"patient_note", "consultation_note", "draft_medicine"})


def canaries_visible_to(actor: str) -> frozenset[str]:
    """The kinds of A's data ``actor`` may be shown: all for the care team, A's own record for A,
    nothing for anyone else."""
    if actor in CARE_TEAM:
        return frozenset(CANARIES)
    if actor == PATIENT_A:
        return frozenset(CANARIES) - CARE_TEAM_ONLY
    return frozenset()


@dataclass
class World:
    users: dict[str, Any]  # actor → User (None for anonymous)
    ids: dict[str, str]  # placeholder → id, for path templates and bodies
    tokens: dict[str, str]  # actor → access token
    canaries: dict[str, str] = field(default_factory=lambda: dict(CANARIES))
    dates: dict[str, Any] = field(default_factory=dict)

    def path(self, template: str) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: self.ids[m.group(1)], template)


def _user(n: int, role: str, first_name: str, **fields):
    return UserFactory(phone=phone_number(77_000_000 + n), role=role, first_name=first_name, **fields)


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def _working_hours(profile) -> None:
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(doctor=profile, weekday=day, start_time=time(9), end_time=time(17))
        for day in range(7)
    )


def build_world() -> World:
    """The scenario every cell runs against. Private storage must already point somewhere safe."""
    now = timezone.now().replace(microsecond=0)
    future_day = (now + timedelta(days=30)).date()

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(future_day, time(hour, minute), tzinfo=UTC)

    patient = _user(1, "patient", "Alice")
    assert patient.phone == A_PHONE
    other_patient = _user(2, "patient", "Bob")
    doctor = _user(3, "doctor", "Dana")
    other_doctor = _user(4, "doctor", "Derek")
    clinic_admin = _user(5, "patient", "Carla")
    admin = _user(6, "admin", "Ada")
    superadmin = _user(7, "superadmin", "Sam")
    receptionist = _user(8, "patient", "Rita")
    applicant = _user(9, "doctor", "Penny")

    users = {
        PATIENT_A: patient,
        PATIENT_B: other_patient,
        DOCTOR_OF_A: doctor,
        OTHER_DOCTOR: other_doctor,
        CLINIC_ADMIN: clinic_admin,
        ADMIN: admin,
        SUPERADMIN: superadmin,
        ANONYMOUS: None,
    }

    # Doctors: both verified and bookable 09:00-17:00 UTC every day; a third one waits for review.
    doctor_profile = DoctorProfileFactory(user=doctor, registration_number="MX-0001", slot_minutes=30)
    other_profile = DoctorProfileFactory(user=other_doctor, registration_number="MX-0002", slot_minutes=30)
    DoctorProfileFactory(user=applicant, registration_number="MX-0003", verification_status="pending")
    _working_hours(doctor_profile)
    _working_hours(other_profile)
    education = Education.objects.create(doctor=doctor_profile, degree="MBBS", institution="AIIMS", year=2005)
    experience = Experience.objects.create(
        doctor=doctor_profile, organisation="City Hospital", title="Registrar", start_date=date(2008, 1, 1)
    )
    leave = AvailabilityException.objects.create(
        doctor=doctor_profile, date=(now + timedelta(days=60)).date(), kind="leave", reason="Conference"
    )
    verification_document = store_document(
        owner=doctor, uploaded_by=doctor, upload=_upload("licence.pdf"), kind=DocumentKind.VERIFICATION
    )

    # The clinic: Carla runs it, Dana practises there, Rita works the desk; another one is pending.
    clinic = ClinicFactory(name="Lakeside Clinic", created_by=clinic_admin, verification_status="verified")
    ClinicMemberFactory(clinic=clinic, user=clinic_admin, role="admin")
    ClinicMemberFactory(clinic=clinic, user=doctor, role="doctor")
    desk = ClinicMemberFactory(clinic=clinic, user=receptionist, role="staff")
    pending_clinic = ClinicFactory(
        name="Hillside Clinic", created_by=clinic_admin, verification_status="pending"
    )
    ClinicMemberFactory(clinic=pending_clinic, user=clinic_admin, role="admin")
    service = ClinicServiceFactory(clinic=clinic, name="Dressing change")
    stock = InventoryItemFactory(clinic=clinic, medication=MedicationFactory(generic_name="Inventorine"))
    unstocked = MedicationFactory(generic_name="Stockol")
    plain = MedicationFactory(generic_name="Plainol")  # what the matrix's own prescriptions list

    # Patient A's chart.
    c = CANARIES
    PatientProfile.objects.create(
        user=patient,
        date_of_birth=c["date_of_birth"],
        sex="female",
        blood_group="O+",
        city="Pune",
        country="IN",
    )
    chart = {
        "A.condition": Condition.objects.create(patient=patient, name=c["condition"], icd10_code="E11.9"),
        "A.allergy": Allergy.objects.create(patient=patient, substance=c["allergy"], severity="severe"),
        "A.surgery": Surgery.objects.create(patient=patient, procedure=c["surgery"]),
        "A.family-history": FamilyHistory.objects.create(
            patient=patient, relation="mother", condition=c["family_history"]
        ),
        "A.medication": CurrentMedication.objects.create(patient=patient, name=c["current_medication"]),
        "A.insurance": Insurance.objects.create(
            patient=patient, provider=c["insurance"], policy_number="P-1"
        ),
        "A.emergency-contact": EmergencyContact.objects.create(
            patient=patient, name=c["emergency_contact"], relation="sister", phone=phone_number(77_000_099)
        ),
        "A.record": MedicalRecord.objects.create(
            patient=patient,
            record_type="lab_report",
            title=c["record"],
            record_date=date(2024, 1, 2),
            authored_by=patient,
        ),
        "A.record-by-doctor": MedicalRecord.objects.create(
            patient=patient,
            record_type="discharge_summary",
            title=c["record_by_doctor"],
            record_date=date(2024, 2, 3),
            authored_by=doctor,
        ),
        "A.note": PatientNote.objects.create(patient=patient, author=doctor, text=c["patient_note"]),
        "A.document": store_document(
            owner=patient,
            uploaded_by=patient,
            upload=_upload(f"{c['document_name']}.pdf"),
            kind=DocumentKind.MEDICAL,
        ),
    }

    # A's consultations with Dana, one per state the lifecycle endpoints act on.
    done = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="completed",
        scheduled_start=now - timedelta(days=10),
        duration_minutes=30,
        chief_complaint=c["chief_complaint"],
        diagnosis=c["diagnosis"],
        icd10_code="R50.9",
        treatment_plan=c["treatment_plan"],
    )
    in_clinic = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        type="in_clinic",
        clinic=clinic,
        state="completed",
        scheduled_start=now - timedelta(days=5),
        duration_minutes=30,
    )
    future = ConsultationFactory(patient=patient, doctor=doctor, scheduled_start=at(9), duration_minutes=30)
    starting = ConsultationFactory(
        patient=patient, doctor=doctor, scheduled_start=now - timedelta(minutes=1), duration_minutes=30
    )
    live = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="in_progress",
        scheduled_start=now - timedelta(minutes=10),
        duration_minutes=30,
    )
    ConsultationNote.objects.create(consultation=done, author=doctor, text=c["consultation_note"])
    VitalSign.objects.create(
        consultation=done,
        patient=patient,
        kind="heart_rate",
        value=72,
        unit="bpm",
        measured_at=done.scheduled_start + timedelta(minutes=5),
    )

    # A's prescriptions from that consultation: one issued, one still a draft.
    def item(medication) -> dict:
        return {
            "medication": medication,
            "dose": "1 tablet",
            "route": "oral",
            "frequency": "BD",
            "duration_days": 60,
            "quantity": 120,
            "instructions": "",
        }

    canary_medicine = MedicationFactory(generic_name=c["medicine"])
    draft_medicine = MedicationFactory(generic_name=c["draft_medicine"])
    issued = prescribing.issue_prescription(
        doctor,
        prescribing.create_prescription(
            doctor, done, notes=c["prescription_notes"], items=[item(canary_medicine)]
        ),
    )
    draft = prescribing.create_prescription(doctor, done, items=[item(draft_medicine)])

    # Patient B's own data, with their own doctor.
    PatientProfile.objects.create(user=other_patient, date_of_birth="1990-01-01", city="Delhi", country="IN")
    Condition.objects.create(patient=other_patient, name="Bystander cough")
    b_visit = ConsultationFactory(
        patient=other_patient,
        doctor=other_doctor,
        state="completed",
        scheduled_start=now - timedelta(days=8),
        duration_minutes=30,
        chief_complaint="Bystander cough",
    )
    prescribing.issue_prescription(
        other_doctor,
        prescribing.create_prescription(
            other_doctor, b_visit, items=[item(MedicationFactory(generic_name="Bystandarol"))]
        ),
    )

    payments = _payment_world(patient, doctor, done, at)

    report = ReportDefinition.objects.create(owner=admin, name="Matrix visits", metric="consultations")
    report_run = ReportRun.objects.create(
        definition=report,
        requested_by=admin,
        spec=spec_of(report),
        date_from=now.date() - timedelta(days=29),
        date_to=now.date(),
        status="done",
        columns=["consultations"],
        rows=[[0]],
    )
    device = register_device(patient, DeviceRegistration(platform="ios", token="a" * 64))
    notification = notify(
        patient, "appointment_booked", title="Appointment booked", data={"consultation_id": str(done.pk)}
    )

    audit_entry = AuditEntry.objects.create(
        actor=doctor, actor_role="doctor", subject=patient, action="read", resource="condition"
    )

    ids = {
        "A": patient.pk,
        "B": other_patient.pk,
        "doctor": doctor.pk,
        "other_doctor": other_doctor.pk,
        "applicant": applicant.pk,
        "doctor.education": education.pk,
        "doctor.experience": experience.pk,
        "doctor.rule": doctor_profile.availability_rules.order_by("weekday").first().pk,
        "doctor.leave": leave.pk,
        "doctor.licence": verification_document.pk,
        "clinic": clinic.pk,
        "pending_clinic": pending_clinic.pk,
        "clinic.desk_member": desk.pk,
        "clinic.service": service.pk,
        "clinic.stock": stock.pk,
        "unstocked_medication": unstocked.pk,
        "plain_medicine": plain.pk,
        "medicine": canary_medicine.pk,
        "draft_medicine": draft_medicine.pk,
        "c.done": done.pk,
        "c.in_clinic": in_clinic.pk,
        "c.future": future.pk,
        "c.starting": starting.pk,
        "c.live": live.pk,
        "c.b_visit": b_visit.pk,
        "rx.issued": issued.pk,
        "rx.draft": draft.pk,
        "rx.code": prescribing_code(issued),
        "audit_entry": audit_entry.pk,
        "n.a": notification.pk,
        "device.a": device.token,
        "report": report.pk,
        "report_run": report_run.pk,
        "slot_day": future_day.isoformat(),
        **{name: obj.pk for name, obj in chart.items()},
        **payments,
    }
    return World(
        users=users,
        ids={name: str(value) for name, value in ids.items()},
        tokens={actor: issue_tokens(user)["access"] for actor, user in users.items() if user is not None},
        dates={
            "book_at": at(10).isoformat(),
            "reschedule_to": at(9, 30).isoformat(),
            "future_date": (now + timedelta(days=90)).date().isoformat(),
        },
    )


def _payment_world(patient, doctor, done, at: Callable[..., datetime]) -> dict[str, Any]:
    """A's payments with Dana: the completed visit paid for, a booking whose payment is pending (not
    yet opened at a provider, so nothing calls one), a booking awaiting payment with none started,
    and a coupon that makes it free (paying it needs no provider either)."""
    fee = {"list_amount": 50_000, "amount": 50_000, "currency": "INR"}
    paid = Payment.objects.create(
        consultation=done,
        patient=patient,
        doctor=doctor,
        gateway="stripe",
        reference="pi_matrix_paid",
        provider_payment_id="ch_matrix_paid",
        status="succeeded",
        receipt_number="RCPT-2030-990001",
        platform_fee=7_500,
        doctor_share=42_500,
        succeeded_at=done.scheduled_start - timedelta(days=1),
        **fee,
    )

    def awaiting_payment(start: datetime):
        return ConsultationFactory(
            patient=patient,
            doctor=doctor,
            state="pending_payment",
            scheduled_start=start,
            duration_minutes=30,
            fee_amount=50_000,
            fee_currency="INR",
        )

    pending = Payment.objects.create(
        consultation=awaiting_payment(at(12)), patient=patient, doctor=doctor, gateway="stripe", **fee
    )
    unpaid = awaiting_payment(at(12, 30))
    coupon = Coupon.objects.create(code="MATRIX100", kind="percent", value=100)
    return {"p.paid": paid.pk, "p.pending": pending.pk, "c.unpaid": unpaid.pk, "coupon": coupon.pk}


def prescribing_code(prescription) -> str:
    return format_code(prescription.verification_code)


# --- The matrix ----------------------------------------------------------------------------------

Body = dict | Callable[[World, str], dict] | None


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # a template over World.ids; may carry a query string
    allow: frozenset[str]
    body: Body = None
    multipart: bool = False
    # Denied actors whose invalid body gets a 400 before the refusal: the view validates the input
    # before it checks their part in the object (they can see it, or the body names it).
    validates_first: frozenset[str] = frozenset()
    # Canary kinds this route shows to anyone by design (say why where the row is written).
    exempt: frozenset[str] = frozenset()
    # Runs before the request, for the actor: puts them in the state the action needs.
    prepare: Callable[[World, str], None] | None = None
    # actor → reason: a cell that breaks a documented rule (a security bug), xfail(strict=True).
    bugs: dict[str, str] = field(default_factory=dict)
    # Tells two rows on the same route apart in test ids (another object, another body).
    note: str = ""
    # Public routes (AllowAny) refuse anonymous callers the way they refuse everyone: 404.
    anonymous_gets: int = 401

    def body_for(self, world: World, actor: str) -> dict | None:
        return self.body(world, actor) if callable(self.body) else self.body

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.note})" if self.note else "")


def _row(method: str, path: str, allow, body: Body = None, *, validates_first=(), **options) -> Row:
    return Row(
        method=method,
        path=path,
        allow=frozenset(allow),
        body=body,
        validates_first=frozenset(validates_first),
        **options,
    )


def _per_actor(default: dict, **by_actor: dict) -> Callable[[World, str], dict]:
    def make(world: World, actor: str) -> dict:
        return by_actor.get(actor, default)

    return make


def _file(name: str) -> Callable[[World, str], dict]:
    return lambda world, actor: {"file": _upload(name)}


def _reject_own_profile(world: World, actor: str) -> None:
    from clinical.models import DoctorProfile

    user = world.users[actor]
    if user is not None:
        DoctorProfile.objects.filter(user=user).update(
            verification_status="rejected", rejection_reason="Blurry"
        )


# --- Patients -------------------------------------------------------------------------------------

# Write rules of clinical/patients/services.py: (collection, POST, PUT/PATCH, DELETE, body).
_SHARED_LIST = {PATIENT_A, DOCTOR_OF_A}  # the problem list: A adds/changes/deletes, A's doctor adds/changes
_CHART = [
    ("conditions", "A.condition", _SHARED_LIST, _SHARED_LIST, {PATIENT_A}, {"name": "Hay fever"}),
    ("allergies", "A.allergy", _SHARED_LIST, _SHARED_LIST, {PATIENT_A}, {"substance": "Pollen"}),
    ("surgeries", "A.surgery", {PATIENT_A}, {PATIENT_A}, {PATIENT_A}, {"procedure": "Tonsillectomy"}),
    (
        "family-history",
        "A.family-history",
        {PATIENT_A},
        {PATIENT_A},
        {PATIENT_A},
        {"relation": "father", "condition": "Gout"},
    ),
    ("medications", "A.medication", {PATIENT_A}, {PATIENT_A}, {PATIENT_A}, {"name": "Vitamin D"}),
    (
        "insurance",
        "A.insurance",
        {PATIENT_A},
        {PATIENT_A},
        {PATIENT_A},
        {"provider": "Acme Health", "policy_number": "Z-9"},
    ),
    (
        "emergency-contacts",
        "A.emergency-contact",
        {PATIENT_A},
        {PATIENT_A},
        {PATIENT_A},
        {"name": "Sam Brother", "relation": "brother", "phone": phone_number(77_000_098)},
    ),
    # Records: A and A's doctor add; only the author changes or deletes (A wrote A.record).
    (
        "records",
        "A.record",
        _SHARED_LIST,
        {PATIENT_A},
        {PATIENT_A},
        {"record_type": "lab_report", "title": "Lipid panel", "record_date": "2024-03-01"},
    ),
    # Doctors' notes: the care team reads; treating doctors write and change their own; staff
    # only read; the patient can do neither (403).
    ("notes", "A.note", {DOCTOR_OF_A}, {DOCTOR_OF_A}, {DOCTOR_OF_A}, {"text": "Review in a month."}),
]


def _patient_rows() -> list[Row]:
    rows = [
        _row("GET", "/api/patients/", AUTHENTICATED),
        _row("GET", "/api/patients/me/", PATIENT_ROLE),
        _row("PUT", "/api/patients/me/", PATIENT_ROLE, {"city": "Nashik", "blood_group": "A+"}),
        _row("PATCH", "/api/patients/me/", PATIENT_ROLE, {"city": "Nashik"}),
        _row("GET", "/api/patients/{A}/", CAN_SEE_A),
        # The profile: the patient and staff correct it; A's doctor reads only.
        _row("PATCH", "/api/patients/{A}/", {PATIENT_A} | STAFF, {"city": "Nashik"}),
        _row("GET", "/api/patients/{A}/documents/", CAN_SEE_A),
        _row("POST", "/api/patients/{A}/documents/", _SHARED_LIST, _file("scan.pdf"), multipart=True),
        _row("GET", "/api/patients/{A}/documents/{A.document}/", CAN_SEE_A),
        _row("DELETE", "/api/patients/{A}/documents/{A.document}/", {PATIENT_A}),  # its uploader
        _row("GET", "/api/patients/{A}/documents/{A.document}/download/", CAN_SEE_A),
        # Someone else's chart item reached through your own (or anyone's) patient id: nobody.
        _row("GET", "/api/patients/{B}/documents/{A.document}/download/", ()),
        _row("GET", "/api/patients/{B}/conditions/{A.condition}/", ()),
        _row("PATCH", "/api/patients/{B}/records/{A.record}/", (), {"title": "Moved"}),
        _row("GET", "/api/patients/{A}/documents/{doctor.licence}/download/", ()),  # not a chart document
        # Lists everyone may call, asked about A: the filter narrows what the caller sees, no more.
        _row("GET", "/api/patients/?search=Alice", AUTHENTICATED, note="search for A"),
    ]
    for collection, item, creators, updaters, deleters, body in _CHART:
        readers = CARE_TEAM if collection == "notes" else CAN_SEE_A
        base, one = f"/api/patients/{{A}}/{collection}/", f"/api/patients/{{A}}/{collection}/{{{item}}}/"
        first_field = dict([next(iter(body.items()))])
        rows += [
            _row("GET", base, readers),
            _row("POST", base, creators, body),
            _row("GET", one, readers),
            _row("PUT", one, updaters, body),
            _row("PATCH", one, updaters, first_field),
            _row("DELETE", one, deleters),
        ]
    # A record A's doctor wrote: only its author changes it, not even the patient.
    rows += [
        _row("PATCH", "/api/patients/{A}/records/{A.record-by-doctor}/", {DOCTOR_OF_A}, {"title": "Amended"}),
        _row("DELETE", "/api/patients/{A}/records/{A.record-by-doctor}/", {DOCTOR_OF_A}),
    ]
    return rows


# --- Consultations -------------------------------------------------------------------------------


def _booking(world: World, actor: str) -> dict:
    body = {"doctor": world.ids["doctor"], "scheduled_start": world.dates["book_at"], "type": "video"}
    if actor in STAFF:
        body["patient"] = world.ids["A"]  # staff book for a patient
    return body


def _consultation_rows() -> list[Row]:
    parties = {PATIENT_A, DOCTOR_OF_A}
    return [
        _row("GET", "/api/consultations/", AUTHENTICATED),
        # Patients book for themselves (B and Carla too), staff for a patient; doctors never.
        _row("POST", "/api/consultations/", PATIENT_ROLE | STAFF, _booking),
        _row("GET", "/api/consultations/?patient={A}", AUTHENTICATED, note="filtered on A"),
        _row("GET", "/api/consultations/timeline/?patient={A}", CAN_SEE_A),
        _row("GET", "/api/consultations/{c.done}/", CAN_SEE_A),
        # Seen at Carla's clinic: Carla lists the appointment, but its record stays A's and Dana's.
        _row("GET", "/api/consultations/{c.in_clinic}/", CAN_SEE_A, note="in clinic"),
        # The doctor documents; the patient may describe the complaint before it starts; staff may not.
        _row(
            "PATCH",
            "/api/consultations/{c.future}/",
            parties,
            _per_actor({"chief_complaint": "Headache"}, doctor_of_a={"diagnosis": "Tension headache"}),
            validates_first=STAFF,  # staff see it; the body is checked before their role is
        ),
        # The same route with a body only the doctor may send.
        _row(
            "PATCH",
            "/api/consultations/{c.future}/",
            {DOCTOR_OF_A},
            {"diagnosis": "Self-diagnosed"},
            validates_first={PATIENT_A} | STAFF,
            note="diagnosis",
        ),
        _row("POST", "/api/consultations/{c.future}/cancel/", parties | STAFF, {"reason": "Cannot come"}),
        _row(
            "POST",
            "/api/consultations/{c.future}/reschedule/",
            parties | STAFF,
            lambda world, actor: {"scheduled_start": world.dates["reschedule_to"]},
        ),
        # scheduled → waiting (patient), → in_progress (doctor), → no_show (staff, after the start).
        _row(
            "POST",
            "/api/consultations/{c.starting}/transition/",
            parties | STAFF,
            _per_actor(
                {"state": "waiting"},
                doctor_of_a={"state": "in_progress"},
                admin={"state": "no_show"},
                superadmin={"state": "no_show"},
            ),
        ),
        _row(
            "POST",
            "/api/consultations/{c.starting}/transition/",
            {DOCTOR_OF_A},
            {"state": "in_progress"},
            validates_first={PATIENT_A} | STAFF,  # they see it; the state is parsed before the role
            note="only the doctor starts it",
        ),
        _row("GET", "/api/consultations/{c.done}/notes/", CARE_TEAM),
        _row(
            "POST",
            "/api/consultations/{c.done}/notes/",
            CARE_TEAM,
            {"text": "Stable."},
            validates_first={PATIENT_A},  # A sees the consultation: the note is parsed before the role
        ),
        _row("GET", "/api/consultations/{c.done}/vitals/", CAN_SEE_A),
        _row(
            "POST",
            "/api/consultations/{c.live}/vitals/",
            parties,  # during the visit; staff do not record readings
            {"kind": "heart_rate", "unit": "bpm", "value": 80},
            validates_first=STAFF,  # staff see it: the reading is validated before the role
        ),
    ]


# --- Prescriptions -------------------------------------------------------------------------------


def _rx_item(world: World) -> dict:
    return {
        "medication": int(world.ids["plain_medicine"]),
        "dose": "1 tablet",
        "frequency": "OD",
        "duration_days": 5,
        "quantity": 5,
    }


def _prescription_rows() -> list[Row]:
    writer = {DOCTOR_OF_A}  # only the prescribing doctor changes a prescription
    catalogue = MEDICINES  # the catalogue lists every medicine, A's included: reference data
    return [
        # Public by design: a pharmacy holding the code sees the medicines (not who takes them).
        _row("GET", "/api/prescriptions/verify/{rx.code}/", EVERYONE, exempt=frozenset({"medicine"})),
        _row("GET", "/api/prescriptions/medications/", AUTHENTICATED, exempt=catalogue),
        _row("GET", "/api/prescriptions/medications/{medicine}/", AUTHENTICATED, exempt=catalogue),
        _row("GET", "/api/prescriptions/", AUTHENTICATED),
        _row("GET", "/api/prescriptions/?patient={A}", AUTHENTICATED, note="filtered on A"),
        _row(
            "POST",
            "/api/prescriptions/",
            writer,
            lambda world, actor: {"consultation": world.ids["c.done"], "items": [_rx_item(world)]},
            validates_first={OTHER_DOCTOR},  # doctors: the body names the consultation, so it comes first
        ),
        _row(
            "POST",
            "/api/prescriptions/",
            {OTHER_DOCTOR},
            lambda world, actor: {"consultation": world.ids["c.b_visit"], "items": [_rx_item(world)]},
            validates_first={DOCTOR_OF_A},
            note="B's consultation",
        ),
        _row("GET", "/api/prescriptions/my-medications/", PATIENT_ROLE),
        _row("GET", "/api/prescriptions/reminder-schedule/", PATIENT_ROLE),
        _row("GET", "/api/prescriptions/stats/", DOCTORS | STAFF),  # a doctor sees only their own
        _row("GET", "/api/prescriptions/{rx.issued}/", CAN_SEE_A),
        _row("GET", "/api/prescriptions/{rx.draft}/", CARE_TEAM),  # drafts are not the patient's yet
        _row(
            "PUT",
            "/api/prescriptions/{rx.draft}/",
            writer,
            lambda world, actor: {"notes": "Updated", "items": [_rx_item(world)]},
        ),
        _row("PATCH", "/api/prescriptions/{rx.draft}/", writer, {"notes": "Updated"}),
        _row("DELETE", "/api/prescriptions/{rx.draft}/", writer),
        _row("POST", "/api/prescriptions/{rx.draft}/check/", writer),
        _row("POST", "/api/prescriptions/{rx.draft}/issue/", writer, {}),
        _row("GET", "/api/prescriptions/{rx.issued}/pdf/", CAN_SEE_A),
        _row("POST", "/api/prescriptions/{rx.issued}/revise/", writer),
    ]


# --- Doctors -------------------------------------------------------------------------------------


def _own_profile_body(world: World, actor: str) -> dict:
    registration = {DOCTOR_OF_A: "MX-0001", OTHER_DOCTOR: "MX-0002"}.get(actor, "MX-0999")
    return {
        "registration_number": registration,  # unchanged: the profile stays verified
        "council": "National Medical Commission",
        "fee_amount": 50_000,
        "fee_currency": "INR",
        "slot_minutes": 30,
    }


def _doctor_rows() -> list[Row]:
    own = {DOCTOR_OF_A}  # entries of Dana's own profile
    rows = [
        _row("GET", "/api/doctors/", EVERYONE),
        _row("GET", "/api/doctors/specialisations/", EVERYONE),
        _row("GET", "/api/doctors/languages/", EVERYONE),
        _row("GET", "/api/doctors/me/", DOCTORS),
        _row("PUT", "/api/doctors/me/", DOCTORS, _own_profile_body),
        _row("PATCH", "/api/doctors/me/", DOCTORS, {"bio": "Family medicine."}),
        _row("POST", "/api/doctors/me/resubmit/", DOCTORS, prepare=_reject_own_profile),
        _row("GET", "/api/doctors/me/performance/", DOCTORS),
        _row("GET", "/api/doctors/me/verification-documents/", DOCTORS),
        _row("POST", "/api/doctors/me/verification-documents/", DOCTORS, _file("degree.pdf"), multipart=True),
        _row("GET", "/api/doctors/me/verification-documents/{doctor.licence}/download/", own),
        # A's medical document is no verification document, whoever asks and through either route.
        _row("GET", "/api/doctors/me/verification-documents/{A.document}/download/", ()),
        _row("GET", "/api/doctors/{doctor}/verification-documents/{A.document}/download/", ()),
        _row("GET", "/api/doctors/{doctor}/", EVERYONE),
        # A doctor still waiting for verification: staff only; to anyone else they do not exist.
        _row("GET", "/api/doctors/{applicant}/", STAFF, anonymous_gets=404, note="pending"),
        _row(
            "GET",
            "/api/doctors/{applicant}/available-slots/?date={slot_day}",
            STAFF,
            anonymous_gets=404,
            note="pending",
        ),
        _row("GET", "/api/doctors/{applicant}/reviews/", STAFF, anonymous_gets=404, note="pending"),
        _row("POST", "/api/doctors/{applicant}/verify/", STAFF),
        _row("POST", "/api/doctors/{doctor}/reject/", STAFF, {"reason": "Licence expired"}),
        _row("GET", "/api/doctors/{doctor}/available-slots/?date={slot_day}", EVERYONE),
        _row("GET", "/api/doctors/{doctor}/reviews/", EVERYONE),
        # Only the patient of a completed consultation with this doctor reviews it.
        _row(
            "POST",
            "/api/doctors/{doctor}/reviews/",
            {PATIENT_A},
            lambda world, actor: {"consultation": world.ids["c.done"], "rating": 5},
            validates_first={PATIENT_B, CLINIC_ADMIN},  # patients: the body names the consultation
        ),
        _row("GET", "/api/doctors/{doctor}/performance/", STAFF),
        # A doctor's private files: the doctor and staff; anyone else 404.
        _row("GET", "/api/doctors/{doctor}/verification-documents/", own | STAFF),
        _row("GET", "/api/doctors/{doctor}/verification-documents/{doctor.licence}/download/", own | STAFF),
    ]
    entries = [
        ("education", "doctor.education", {"degree": "MD", "institution": "KEM", "year": 2010}),
        (
            "experience",
            "doctor.experience",
            {"organisation": "Rural PHC", "title": "Medical officer", "start_date": "2006-01-01"},
        ),
        ("availability-rules", "doctor.rule", {"weekday": 0, "start_time": "18:00", "end_time": "20:00"}),
        (
            "availability-exceptions",
            "doctor.leave",
            lambda world, actor: {"date": world.dates["future_date"], "kind": "leave"},
        ),
    ]
    for collection, entry, body in entries:
        base, one = f"/api/doctors/me/{collection}/", f"/api/doctors/me/{collection}/{{{entry}}}/"
        patch = (
            {"start_time": "08:00", "end_time": "17:00"}
            if collection == "availability-rules"
            else {"reason": "Family event"}
            if collection == "availability-exceptions"
            else dict([next(iter(body.items()))])
        )
        put = (
            {"weekday": 0, "start_time": "08:00", "end_time": "17:00"}
            if collection == "availability-rules"
            else body
        )
        rows += [
            _row("GET", base, DOCTORS),
            _row("POST", base, DOCTORS, body),
            _row("GET", one, own),
            _row("PUT", one, own, put),
            _row("PATCH", one, own, patch),
            _row("DELETE", one, own),
        ]
    return rows


# --- E-clinics -----------------------------------------------------------------------------------


def _clinic_rows() -> list[Row]:
    clinic_admin = {CLINIC_ADMIN}
    insiders = {CLINIC_ADMIN, DOCTOR_OF_A} | STAFF  # members (any role) and platform staff
    return [
        _row("GET", "/api/eclinic/", EVERYONE),
        _row(
            "POST",
            "/api/eclinic/",
            AUTHENTICATED,
            {"name": "New Clinic", "latitude": 18.52, "longitude": 73.85},
        ),
        _row("GET", "/api/eclinic/mine/", AUTHENTICATED),
        _row("GET", "/api/eclinic/{clinic}/", EVERYONE),
        _row("PATCH", "/api/eclinic/{clinic}/", clinic_admin, {"description": "Open on Sundays"}),
        # A clinic waiting for verification: its members and platform staff; to others it does not exist.
        _row(
            "GET",
            "/api/eclinic/{pending_clinic}/",
            {CLINIC_ADMIN} | STAFF,
            anonymous_gets=404,
            note="pending",
        ),
        _row(
            "GET",
            "/api/eclinic/{pending_clinic}/services/",
            {CLINIC_ADMIN} | STAFF,
            anonymous_gets=404,
            note="pending",
        ),
        _row("POST", "/api/eclinic/{pending_clinic}/verify/", STAFF),
        _row("POST", "/api/eclinic/{clinic}/reject/", STAFF, {"reason": "Licence lapsed"}),
        _row("GET", "/api/eclinic/{clinic}/members/", insiders),
        _row(
            "POST",
            "/api/eclinic/{clinic}/members/",
            clinic_admin,
            lambda world, actor: {"user": world.ids["B"], "clinic_role": "staff"},
        ),
        _row("DELETE", "/api/eclinic/{clinic}/members/{clinic.desk_member}/", clinic_admin),
        _row("GET", "/api/eclinic/{clinic}/services/", EVERYONE),
        _row(
            "POST", "/api/eclinic/{clinic}/services/", clinic_admin, {"name": "X-ray", "price_amount": 40_000}
        ),
        _row("GET", "/api/eclinic/{clinic}/services/{clinic.service}/", EVERYONE),
        _row(
            "PATCH",
            "/api/eclinic/{clinic}/services/{clinic.service}/",
            clinic_admin,
            {"price_amount": 45_000},
        ),
        _row("DELETE", "/api/eclinic/{clinic}/services/{clinic.service}/", clinic_admin),
        _row("GET", "/api/eclinic/{clinic}/inventory/", insiders),
        _row(
            "POST",
            "/api/eclinic/{clinic}/inventory/",
            clinic_admin,  # the clinic's admin and staff roles; not its doctors, not platform staff
            lambda world, actor: {"medication": int(world.ids["unstocked_medication"]), "stock": 5},
        ),
        _row("GET", "/api/eclinic/{clinic}/inventory/{clinic.stock}/", insiders),
        _row(
            "PATCH",
            "/api/eclinic/{clinic}/inventory/{clinic.stock}/",
            clinic_admin,
            {"low_stock_threshold": 3},
        ),
        _row("DELETE", "/api/eclinic/{clinic}/inventory/{clinic.stock}/", clinic_admin),
        _row(
            "POST",
            "/api/eclinic/{clinic}/inventory/{clinic.stock}/adjust/",
            clinic_admin,
            {"delta": 5, "reason": "Delivery"},
        ),
        _row("GET", "/api/eclinic/{clinic}/reviews/", EVERYONE),
        # The patient of a completed in-clinic consultation there, once.
        _row(
            "POST",
            "/api/eclinic/{clinic}/reviews/",
            {PATIENT_A},
            lambda world, actor: {"consultation": world.ids["c.in_clinic"], "rating": 4},
            validates_first=AUTHENTICATED - {PATIENT_A},  # the body names the consultation to look up
        ),
        # Names and times only, no clinical content: the clinic admin and platform staff.
        _row("GET", "/api/eclinic/{clinic}/appointments/", {CLINIC_ADMIN} | STAFF),
    ]


# --- Payments ------------------------------------------------------------------------------------


def _payment_rows() -> list[Row]:
    payer = {PATIENT_A} | STAFF  # pays for A's booking: A, or staff for A (payments/views.py)
    other_patients = {PATIENT_B, CLINIC_ADMIN}  # the body names a consultation they cannot see

    def paying(world: World, actor: str) -> dict:
        return {"consultation": world.ids["c.unpaid"], "coupon_code": "MATRIX100"}

    return [
        _row("GET", "/api/payments/payments/", AUTHENTICATED),  # each sees their own (staff all)
        _row("GET", "/api/payments/payments/?patient={A}&status=succeeded", AUTHENTICATED, note="on A"),
        _row("POST", "/api/payments/payments/", payer, paying, validates_first=other_patients),
        _row("GET", "/api/payments/payments/{p.paid}/", CAN_SEE_A),
        _row("POST", "/api/payments/payments/{p.pending}/verify/", payer, {}),
        _row("POST", "/api/payments/payments/{p.pending}/cancel/", payer),
        # The receipt carries A's phone number: A and staff, not the doctor.
        _row("GET", "/api/payments/payments/{p.paid}/receipt/", payer),
        _row("GET", "/api/payments/payments/{p.paid}/refunds/", CAN_SEE_A),
        # Refunds are a staff decision; not even A's doctor refunds.
        _row(
            "POST", "/api/payments/payments/{p.paid}/refunds/", STAFF, {"amount": 1_000, "reason": "Goodwill"}
        ),
        # Saved cards: patients, their own. Nobody here has a Stripe customer, so the list is empty
        # (Stripe is not asked) and no card id is anyone's.
        _row("GET", "/api/payments/payment-methods/", PATIENT_ROLE),
        _row("POST", "/api/payments/payment-methods/pm_matrix/default/", ()),
        _row("DELETE", "/api/payments/payment-methods/pm_matrix/", ()),
        _row("GET", "/api/payments/coupons/", STAFF),
        _row("POST", "/api/payments/coupons/", STAFF, {"code": "WELCOME10", "kind": "percent", "value": 10}),
        _row("GET", "/api/payments/coupons/{coupon}/", STAFF),
        _row("PATCH", "/api/payments/coupons/{coupon}/", STAFF, {"max_uses": 50}),
        _row("DELETE", "/api/payments/coupons/{coupon}/", STAFF),
        _row(
            "POST",
            "/api/payments/coupons/check/",
            payer,
            lambda world, actor: {"code": "MATRIX100", "consultation": world.ids["c.unpaid"]},
            validates_first=other_patients,
        ),
        # A doctor's own earnings; naming another doctor is refused. Staff name the doctor.
        _row("GET", "/api/payments/earnings/?doctor={doctor}", {DOCTOR_OF_A} | STAFF),
        _row("GET", "/api/payments/earnings/entries/?doctor={doctor}", {DOCTOR_OF_A} | STAFF),
        _row("GET", "/api/payments/analytics/", STAFF),
    ]


# --- Accounts and audit --------------------------------------------------------------------------


def _account_rows() -> list[Row]:
    return [
        _row("GET", "/api/auth/profile/", AUTHENTICATED),  # always the caller's own account
        _row("PUT", "/api/auth/profile/", AUTHENTICATED, {"first_name": "Renamed", "last_name": "Person"}),
        _row("PATCH", "/api/auth/profile/", AUTHENTICATED, {"language": "hi"}),
        _row("GET", "/api/users/", STAFF),
        _row("POST", "/api/users/", STAFF, {"phone": phone_number(77_000_097), "role": "patient"}),
        _row("GET", "/api/users/{A}/", STAFF),
        _row("PUT", "/api/users/{A}/", STAFF, {"first_name": "Alice", "last_name": "Smith"}),
        _row("PATCH", "/api/users/{A}/", STAFF, {"first_name": "Alicia"}),
        _row("GET", "/api/audit/", STAFF),
        _row("GET", "/api/audit/{audit_entry}/", STAFF),
    ]


# --- Notifications -------------------------------------------------------------------------------


def _notification_rows() -> list[Row]:
    """Everyone has an inbox of their own; a notification is its recipient's only
    (telehealth/notifications/views.py). Bulk actions take ids but touch only the caller's."""
    return [
        _row("GET", "/api/notifications/", AUTHENTICATED),
        _row("GET", "/api/notifications/?unread=true", AUTHENTICATED, note="unread"),
        _row("GET", "/api/notifications/{n.a}/", {PATIENT_A}),
        _row("POST", "/api/notifications/{n.a}/read/", {PATIENT_A}),
        _row(
            "POST",
            "/api/notifications/mark-read/",
            AUTHENTICATED,
            lambda world, actor: {"ids": [int(world.ids["n.a"])]},
        ),
        _row("POST", "/api/notifications/read-all/", AUTHENTICATED),
        _row("GET", "/api/notifications/unread-count/", AUTHENTICATED),
        # Devices: each caller's own. Registering is open to every account; removing A's token is
        # A's alone (anyone else: 404, the token stays).
        _row("GET", "/api/notifications/devices/", AUTHENTICATED),
        _row(
            "POST",
            "/api/notifications/devices/",
            AUTHENTICATED,
            lambda world, actor: {"platform": "ios", "token": f"{ACTORS.index(actor):064x}"},
        ),
        _row("DELETE", "/api/notifications/devices/?token={device.a}", {PATIENT_A}),
    ]


# --- Analytics -----------------------------------------------------------------------------------


def _analytics_rows() -> list[Row]:
    """Staff figures (analytics/views/); a doctor reads their own performance only. Report
    definitions are the staff team's: any admin reads and runs them, the owner (here ``admin``) or
    a superadmin changes them."""
    editors = {ADMIN, SUPERADMIN}
    return [
        _row("GET", "/api/analytics/dashboard/", STAFF),
        _row("GET", "/api/analytics/user-growth/", STAFF),
        _row("GET", "/api/analytics/consultations/", STAFF),
        _row("GET", "/api/analytics/revenue/", STAFF),
        _row("GET", "/api/analytics/geography/", STAFF),
        _row("GET", "/api/analytics/doctors/performance/", STAFF | DOCTORS),  # a doctor: their own row
        _row("GET", "/api/analytics/doctors/performance/?doctor={doctor}", STAFF | {DOCTOR_OF_A}, note="one"),
        _row("GET", "/api/analytics/reports/", STAFF),
        _row("POST", "/api/analytics/reports/", STAFF, {"name": "Visits", "metric": "consultations"}),
        _row("GET", "/api/analytics/reports/metrics/", STAFF),
        _row("GET", "/api/analytics/reports/{report}/", STAFF),
        _row("PATCH", "/api/analytics/reports/{report}/", editors, {"name": "Renamed"}),
        _row("DELETE", "/api/analytics/reports/{report}/", editors),
        _row("POST", "/api/analytics/reports/{report}/run/", STAFF),
        _row("GET", "/api/analytics/reports/{report}/runs/", STAFF),
        _row("GET", "/api/analytics/report-runs/{report_run}/", STAFF),
        _row("GET", "/api/analytics/report-runs/{report_run}/download/?format=csv", STAFF),
        _row("GET", "/api/analytics/export/consultations/", STAFF),
        _row("GET", "/api/analytics/export/payments/", STAFF),
        _row("GET", "/api/analytics/export/users/", STAFF),
    ]


MATRIX: list[Row] = [
    *_account_rows(),
    *_analytics_rows(),
    *_notification_rows(),
    *_patient_rows(),
    *_consultation_rows(),
    *_prescription_rows(),
    *_doctor_rows(),
    *_clinic_rows(),
    *_payment_rows(),
]


@dataclass(frozen=True)
class Cell:
    row: Row
    actor: str

    @property
    def expected(self) -> str:
        return ALLOW if self.actor in self.row.allow else DENY

    @property
    def id(self) -> str:
        return f"{self.row.label} :: {self.actor} -> {self.expected}"


def cells() -> list[Cell]:
    return [Cell(row, actor) for row in MATRIX for actor in ACTORS]
