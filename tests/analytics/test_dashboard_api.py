"""The dashboard: every counter equals an independent computation over the seeded rows, "today"
and "this month" in the admin's time zone, the live room count from presence, and a write shows
at once."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync

from clinical.models import Consultation, ConsultationState, DoctorProfile, Review
from payments.models import PAID_STATUSES, Payment, Refund
from signaling.presence import get_presence
from telehealth.accounts.models import Role, User
from tests.analytics.overview_expected import BASE, KOLKATA, UTC_ZONE, data_of, error_of, local
from tests.analytics.seed import NOW

pytestmark = pytest.mark.django_db

URL = f"{BASE}dashboard/"


def revenue(zone, first_day, last_day):
    gross, refunds = defaultdict(int), defaultdict(int)
    for payment in Payment.objects.all():
        if payment.status in PAID_STATUSES and first_day <= local(payment.succeeded_at, zone) <= last_day:
            gross[payment.currency] += payment.amount
    for refund in Refund.objects.select_related("payment"):
        if refund.status == "succeeded" and first_day <= local(refund.updated_at, zone) <= last_day:
            refunds[refund.payment.currency] += refund.amount
    return [
        {"currency": c, "gross": gross[c], "refunds": refunds[c], "net": gross[c] - refunds[c]}
        for c in sorted(set(gross) | set(refunds))
    ]


def expected(zone, active=0):
    today = NOW.astimezone(zone).date()
    users = dict.fromkeys(Role.values, 0)
    signups = dict.fromkeys(Role.values, 0)
    for user in User.objects.all():
        users[user.role] += user.is_active
        signups[user.role] += local(user.date_joined, zone) == today
    states = dict.fromkeys(ConsultationState.values, 0)
    for c in Consultation.objects.all():
        if local(c.scheduled_start, zone) == today:
            states[c.state] += 1
    ratings = [review.rating for review in Review.objects.all()]
    return {
        "time_zone": zone.key,
        "generated_at": NOW.isoformat().replace("+00:00", "Z"),
        "today": str(today),
        "users_by_role": users,
        "active_consultations": active,
        "consultations_today": states,
        "revenue_today": revenue(zone, today, today),
        "revenue_month_to_date": revenue(zone, today.replace(day=1), today),
        "new_signups_today": signups,
        "pending_doctor_verifications": sum(
            p.verification_status == "pending" for p in DoctorProfile.objects.all()
        ),
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "rating_count": len(ratings),
    }


def test_counters_in_the_admins_zone_match_an_independent_computation(ada, seeded):
    data = data_of(ada.get(URL))

    assert data == expected(KOLKATA)
    assert sum(data["consultations_today"].values()) > 3
    assert data["revenue_month_to_date"]
    assert data["pending_doctor_verifications"] == 2


def test_another_zone_has_another_today(ada, seeded):
    data = data_of(ada.get(f"{URL}?tz=UTC"))

    assert data == expected(UTC_ZONE)
    assert data["consultations_today"] != data_of(ada.get(URL))["consultations_today"]


def test_the_profile_zone_is_the_default(alan, sam, seeded):
    assert data_of(alan.get(URL)) == expected(UTC_ZONE)
    assert data_of(sam.get(URL))["time_zone"] == "America/New_York"


@pytest.fixture
def rooms(seeded):
    """Presence entries: someone fresh in one waiting and one in-progress room, only a stale entry in
    another live room, and a fresh one in a completed consultation's room (not live)."""
    presence = get_presence()
    by_state = defaultdict(list)
    for c in seeded.consultations:
        by_state[c.state].append(c)
    fresh, stale = time.time(), time.time() - 3600
    live = [*by_state["waiting"], *by_state["in_progress"]]
    assert len(live) >= 2, "the seed needs live consultations"
    put = async_to_sync(presence.put)
    entry = {"user_id": "u", "role": "patient", "name": "P", "status": "joined", "media": {}}
    put(str(live[0].pk), "chan-a", entry, last_seen=fresh)
    put(str(live[1].pk), "chan-b", entry, last_seen=fresh)
    put(str(live[1].pk), "chan-c", entry, last_seen=stale)
    if len(live) > 2:
        put(str(live[2].pk), "chan-d", entry, last_seen=stale)
    put(str(by_state["completed"][0].pk), "chan-e", entry, last_seen=fresh)
    used = [(str(live[0].pk), "chan-a"), (str(live[1].pk), "chan-b"), (str(live[1].pk), "chan-c")]
    used += [(str(live[2].pk), "chan-d")] if len(live) > 2 else []
    used += [(str(by_state["completed"][0].pk), "chan-e")]
    yield 2
    for room, channel in used:
        async_to_sync(presence.remove)(room, channel)


def test_active_consultations_are_live_rooms_with_someone_present(ada, rooms):
    data = data_of(ada.get(URL))

    assert data["active_consultations"] == rooms
    assert data == expected(KOLKATA, active=rooms)


def test_a_new_booking_shows_at_once(ada, seeded, on_commit, patient, doctor):
    before = data_of(ada.get(URL))
    assert data_of(ada.get(URL)) == before  # cached

    with on_commit():
        Consultation.objects.create(
            patient=patient, doctor=doctor, scheduled_start=NOW + timedelta(hours=1), state="scheduled"
        )

    after = data_of(ada.get(URL))
    assert after["consultations_today"]["scheduled"] == before["consultations_today"]["scheduled"] + 1
    assert after == expected(KOLKATA)


def test_an_invalid_zone_is_a_validation_error(ada, seeded):
    response = ada.get(f"{URL}?tz=Asia/Atlantis")

    assert response.status_code == 400
    assert "tz" in error_of(response)["details"]


def test_an_empty_platform(staff_client):
    data = data_of(staff_client.get(URL))

    assert data["average_rating"] is None
    assert data["revenue_today"] == []
    assert data["users_by_role"]["admin"] == 1


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_it_is_for_staff(request, client_for, role):
    assert client_for(request.getfixturevalue(role)).get(URL).status_code == 403


def test_anonymous_read_nothing(api_client):
    assert api_client.get(URL).status_code == 401
