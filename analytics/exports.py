"""Raw exports for staff: consultations, payments and users as CSV, streamed.

Rows leave the database in chunks (``values_list(...).iterator(chunk_size=2000)``, a server-side
cursor on PostgreSQL) and leave the server a thousand lines at a time, so memory stays flat however
many rows there are. Under ASGI the chunks are pulled through ``sync_to_async`` one by one: Django
would otherwise read a synchronous iterator to the end before sending anything.

What is in them, and what is not. Only what staff need to reconcile and count: ids, times, states,
amounts. Never clinical content (no complaint, symptoms, diagnosis, ICD-10 code, treatment plan,
notes or chat), no checkout data, and no phone numbers or e-mail addresses. Times are ISO 8601 in
the export's time zone (``tz``, else the admin's profile zone); money is integer minor units next to
its currency.

- consultations (by ``scheduled_start``): id, scheduled_start, duration_minutes, type, state,
  no_show_party, patient_id, doctor_id, clinic_id, fee_amount, fee_currency, created_at,
  started_at, ended_at. Filters: ``state``, ``type``, ``doctor``, ``clinic``.
- payments (by ``created_at``, every status): id, created_at, succeeded_at, status, gateway,
  consultation_id, patient_id, doctor_id, list_amount, discount_amount, amount, refunded_amount,
  platform_fee, doctor_share, currency, receipt_number, provider_payment_id. Filters: ``status``,
  ``gateway``, ``currency``, ``doctor``.
- users (by ``date_joined``): id, role, first_name, last_name, is_active, date_joined,
  phone_verified_at, timezone, language. Filters: ``role``, ``is_active``.

Every export writes one audit entry (action ``download``, resource ``<name>_export``, object
``<from>..<to> rows=<count>``) before the first byte is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q, QuerySet

from analytics.periods import Window
from analytics.reports.registry import currency_code, int_id, one_of, uuid_value
from analytics.reports.render import csv_chunks
from clinical.models import Consultation, ConsultationState, ConsultationType
from payments.models import GatewayName, Payment, PaymentStatus
from telehealth.accounts.models import Role, User

CHUNK_SIZE = 2000


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError("true or false.")
    return value == "true"


@dataclass(frozen=True)
class Filter:
    path: str
    clean: Callable[[str], Any]
    help: str


@dataclass(frozen=True)
class Export:
    name: str
    rows: Callable[[], QuerySet]
    date_field: str
    columns: tuple[tuple[str, str], ...]  # (CSV header, ORM path)
    filters: dict[str, Filter]

    def queryset(self, window: Window, filters: dict[str, list[Any]]) -> QuerySet:
        rows = self.rows().filter(
            **{f"{self.date_field}__gte": window.start_utc, f"{self.date_field}__lt": window.end_utc}
        )
        for key, values in filters.items():
            rows = rows.filter(Q(**{f"{self.filters[key].path}__in": values}))
        return rows.order_by(self.date_field, "pk")


def _same(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, name) for name in names)


EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "consultations",
            Consultation.objects.all,
            "scheduled_start",
            _same(
                "id",
                "scheduled_start",
                "duration_minutes",
                "type",
                "state",
                "no_show_party",
                "patient_id",
                "doctor_id",
                "clinic_id",
                "fee_amount",
                "fee_currency",
                "created_at",
                "started_at",
                "ended_at",
            ),
            {
                "state": Filter("state", one_of(ConsultationState.values), "States to keep."),
                "type": Filter("type", one_of(ConsultationType.values), "Types to keep."),
                "doctor": Filter("doctor_id", uuid_value, "Doctor user ids."),
                "clinic": Filter("clinic_id", int_id, "Clinic ids."),
            },
        ),
        Export(
            "payments",
            Payment.objects.all,
            "created_at",
            _same(
                "id",
                "created_at",
                "succeeded_at",
                "status",
                "gateway",
                "consultation_id",
                "patient_id",
                "doctor_id",
                "list_amount",
                "discount_amount",
                "amount",
                "refunded_amount",
                "platform_fee",
                "doctor_share",
                "currency",
                "receipt_number",
                "provider_payment_id",
            ),
            {
                "status": Filter("status", one_of(PaymentStatus.values), "Statuses to keep."),
                "gateway": Filter("gateway", one_of(GatewayName.values), "Gateways to keep."),
                "currency": Filter("currency", currency_code, "Currencies to keep."),
                "doctor": Filter("doctor_id", uuid_value, "Doctor user ids."),
            },
        ),
        Export(
            "users",
            User.objects.all,
            "date_joined",
            _same(
                "id",
                "role",
                "first_name",
                "last_name",
                "is_active",
                "date_joined",
                "phone_verified_at",
                "timezone",
                "language",
            ),
            {
                "role": Filter("role", one_of(Role.values), "Roles to keep."),
                "is_active": Filter("is_active", _bool, "true or false."),
            },
        ),
    )
}


def _cell(value: Any, window: Window) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(window.zone).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def export_rows(queryset: QuerySet, export: Export, window: Window) -> Iterator[list[Any]]:
    paths = [path for _, path in export.columns]
    for row in queryset.values_list(*paths).iterator(chunk_size=CHUNK_SIZE):
        yield [_cell(value, window) for value in row]


def export_csv(export: Export, window: Window, filters: dict[str, list[Any]]) -> Iterator[bytes]:
    """The CSV of ``export`` in ``window``, chunk by chunk (nothing is read before the first chunk
    is asked for)."""
    header = [name for name, _ in export.columns]
    return csv_chunks(header, export_rows(export.queryset(window, filters), export, window))


def filename(export: Export, window: Window) -> str:
    return f"{export.name}-{window.start.isoformat()}-to-{window.end.isoformat()}.csv"


_DONE = object()


async def _pull(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    # One chunk per hop to the request's thread: the database cursor stays in that thread.
    pull = sync_to_async(next, thread_sensitive=True)
    while (chunk := await pull(iterator, _DONE)) is not _DONE:
        yield chunk


def streaming_content(request, chunks: Iterable[bytes]) -> Iterable[bytes] | AsyncIterator[bytes]:
    """What to give ``StreamingHttpResponse`` so it streams under both WSGI and ASGI: Django reads
    a synchronous iterator to the end under ASGI (and an asynchronous one under WSGI) before sending
    a byte."""
    django_request = getattr(request, "_request", request)
    if isinstance(django_request, ASGIRequest):
        return _pull(iter(chunks))
    return chunks
