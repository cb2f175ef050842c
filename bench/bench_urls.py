"""URLconf of the benchmark servers (``bench.bench_settings``): the project's URLs, plus

* ``bench/baseline/consultations/?doctor=<id>``: the doctor's 20 latest consultations with the
  fields the API's list shows, from one ``.values()`` query through ``JsonResponse``. No
  authentication, permission, throttling, pagination count, audit or envelope: the least Django
  can do to serve those rows;
* ``bench/baseline-auth/consultations/``: the same, for the user of the ``Authorization: Bearer``
  token, checked with the same JWT authentication class as the API (signature, expiry, one user
  query): what authentication adds;
* ``bench/gc/``: a full garbage collection (``?trim=1``: then ``malloc_trim``), returning VmRSS
  before and after, so a bench can tell memory still in use from memory not yet collected.

Never used outside ``bench/``.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from datetime import timedelta
from pathlib import Path

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from clinical.models import Consultation
from telehealth.urls import handler400, handler403, handler404, handler500  # noqa: F401 - same errors

ROWS = 20
FIELDS = (
    "id",
    "patient_id",
    "patient__first_name",
    "patient__last_name",
    "doctor_id",
    "doctor__first_name",
    "doctor__last_name",
    "type",
    "state",
    "scheduled_start",
    "duration_minutes",
    "clinic_id",
    "clinic__name",
    "fee_amount",
    "fee_currency",
    "chief_complaint",
    "rescheduled_from_id",
    "created_at",
)


def _rows(doctor_id) -> list[dict]:
    rows = list(
        Consultation.objects.filter(doctor_id=doctor_id)
        .order_by("-scheduled_start", "id")
        .values(*FIELDS)[:ROWS]
    )
    for row in rows:
        row["scheduled_end"] = row["scheduled_start"] + timedelta(minutes=row["duration_minutes"])
    return rows


def baseline(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"results": _rows(request.GET["doctor"])})


def baseline_auth(request: HttpRequest) -> JsonResponse:
    try:
        found = JWTAuthentication().authenticate(request)
    except (InvalidToken, AuthenticationFailed):
        found = None
    if found is None:
        return JsonResponse({"detail": "not authenticated"}, status=401)
    return JsonResponse({"results": _rows(found[0].pk)})


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def collect(request: HttpRequest) -> JsonResponse:
    before = _rss_kb()
    collected = gc.collect()
    after_gc = _rss_kb()
    if request.GET.get("trim") == "1":
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return JsonResponse(
        {
            "rss_kb_before": before,
            "collected": collected,
            "rss_kb_after_gc": after_gc,
            "rss_kb": _rss_kb(),
            # Python's own view: what it still holds, whatever the allocator keeps mapped.
            "objects": len(gc.get_objects()),
            "allocated_blocks": sys.getallocatedblocks(),
        }
    )


urlpatterns = [
    path("bench/baseline/consultations/", baseline),
    path("bench/baseline-auth/consultations/", baseline_auth),
    path("bench/gc/", collect),
    path("", include("telehealth.urls")),
]
