"""The public directory: who is listed, filters, search, ordering, the next free slot, and the
query count of the listing."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.models import AvailabilityException, DoctorProfile
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import DOCTORS, NOT_STAFF, ROLES, STAFF, url
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


def ids(data) -> list[str]:
    return [row["id"] for row in data["results"]]


# --- Who is listed -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", *NOT_STAFF])
def test_only_verified_active_doctors_are_listed(
    role, as_role, doctor_profile, other_doctor_profile, make_doctor
):
    pending = make_doctor(verification_status="pending")
    rejected = make_doctor(verification_status="rejected", rejection_reason="Licence expired")
    inactive = make_doctor()
    inactive.user.is_active = False
    inactive.user.save()
    _, client = as_role(role)

    listed = ids(success_data(client.get(DOCTORS)))

    assert sorted(listed) == sorted([str(doctor_profile.user_id), str(other_doctor_profile.user_id)])
    for hidden in (pending, rejected, inactive):
        assert str(hidden.user_id) not in listed


@pytest.mark.parametrize("role", STAFF)
def test_staff_see_every_doctor_and_filter_the_queue(role, as_role, doctor_profile, make_doctor):
    pending = make_doctor(verification_status="pending")
    _, client = as_role(role)

    assert str(pending.user_id) in ids(success_data(client.get(DOCTORS)))
    queue = success_data(client.get(DOCTORS, {"verification_status": "pending"}))
    assert ids(queue) == [str(pending.user_id)]


def test_public_rows_carry_no_verification_details(api_client, doctor_profile):
    row = success_data(api_client.get(DOCTORS))["results"][0]
    assert row["id"] == str(doctor_profile.user_id)
    assert row["fee_amount"] == 50_000
    assert row["fee_currency"] == "INR"
    assert [s["slug"] for s in row["specialisations"]] == ["cardiology"]
    assert sorted(lang["code"] for lang in row["languages"]) == ["en", "hi"]
    assert row["timezone"] == "Asia/Kolkata"
    for private in ("verification_status", "rejection_reason", "verified_by", "registration_number"):
        assert private not in row


# --- Filters -------------------------------------------------------------------------------------


def test_filter_by_specialisation(api_client, doctor_profile, other_doctor_profile):
    data = success_data(api_client.get(DOCTORS, {"specialisation": "dermatology"}))
    assert ids(data) == [str(other_doctor_profile.user_id)]


def test_filter_by_language(api_client, doctor_profile, other_doctor_profile):
    data = success_data(api_client.get(DOCTORS, {"language": "hi"}))
    assert ids(data) == [str(doctor_profile.user_id)]


def test_filter_by_fee_range_within_one_currency(
    api_client, doctor_profile, other_doctor_profile, make_doctor
):
    dollars = make_doctor(fee_amount=40_000, fee_currency="USD")
    data = success_data(api_client.get(DOCTORS, {"fee_min": 35_000, "fee_max": 60_000, "currency": "INR"}))
    assert ids(data) == [str(doctor_profile.user_id)]
    data = success_data(api_client.get(DOCTORS, {"fee_max": 45_000, "currency": "usd"}))
    assert ids(data) == [str(dollars.user_id)]


def test_fee_range_without_currency_is_refused(api_client, doctor_profile):
    error = error_of(api_client.get(DOCTORS, {"fee_min": 100}), 400, "VALIDATION_ERROR")
    assert "currency" in error["details"]


def test_inverted_fee_range_is_refused(api_client, doctor_profile):
    response = api_client.get(DOCTORS, {"fee_min": 500, "fee_max": 100, "currency": "INR"})
    assert "fee_max" in error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_filter_by_minimum_rating(api_client, doctor_profile, other_doctor_profile, make_doctor):
    DoctorProfile.objects.filter(pk=doctor_profile.pk).update(rating_sum=9, rating_count=2)  # 4.5
    DoctorProfile.objects.filter(pk=other_doctor_profile.pk).update(rating_sum=7, rating_count=2)  # 3.5
    make_doctor()  # never rated

    data = success_data(api_client.get(DOCTORS, {"rating_min": "4"}))

    assert ids(data) == [str(doctor_profile.user_id)]
    assert data["results"][0]["rating_average"] == 4.5
    assert data["results"][0]["rating_count"] == 2


def test_rating_min_out_of_range_is_refused(api_client):
    assert (
        "rating_min"
        in error_of(api_client.get(DOCTORS, {"rating_min": 6}), 400, "VALIDATION_ERROR")["details"]
    )


def test_filter_by_minimum_experience(api_client, doctor_profile, other_doctor_profile):
    data = success_data(api_client.get(DOCTORS, {"experience_min": 10}))
    assert ids(data) == [str(doctor_profile.user_id)]


def test_filter_by_free_slot_on_a_date(
    api_client, frozen_now, doctor_profile, other_doctor_profile, weekday_hours, make_doctor
):
    tuesday = date(2030, 1, 8)
    weekday_hours(doctor_profile, 1, "09:00", "10:00")  # Tuesday in Kolkata
    weekday_hours(other_doctor_profile, 2, "09:00", "10:00")  # Wednesday only
    on_leave = make_doctor()
    weekday_hours(on_leave, 1, "09:00", "10:00")
    AvailabilityException.objects.create(doctor=on_leave, date=tuesday, kind="leave")
    fully_booked = make_doctor(slot_minutes=60)
    weekday_hours(fully_booked, 1, "09:00", "10:00")
    ConsultationFactory(doctor=fully_booked.user, scheduled_start="2030-01-08T09:00:00Z")
    extra_hours = make_doctor()
    AvailabilityException.objects.create(
        doctor=extra_hours, date=tuesday, kind="extra", start_time="18:00", end_time="19:00"
    )

    data = success_data(api_client.get(DOCTORS, {"available_on": "2030-01-08"}))

    assert sorted(ids(data)) == sorted([str(doctor_profile.user_id), str(extra_hours.user_id)])


def test_filter_by_free_slot_within_days(
    api_client, frozen_now, doctor_profile, other_doctor_profile, make_doctor, weekday_hours
):
    weekday_hours(doctor_profile, 1, "09:00", "10:00")  # Tuesday: tomorrow
    weekday_hours(other_doctor_profile, 4, "09:00", "10:00")  # Friday: in four days
    make_doctor()  # no hours at all

    two_days = success_data(api_client.get(DOCTORS, {"has_slot_within_days": 2}))
    a_week = success_data(api_client.get(DOCTORS, {"has_slot_within_days": 7}))

    assert ids(two_days) == [str(doctor_profile.user_id)]
    assert sorted(ids(a_week)) == sorted([str(doctor_profile.user_id), str(other_doctor_profile.user_id)])


@pytest.mark.parametrize("value", ["0", "61", "soon"])
def test_slot_window_is_validated(api_client, value):
    response = api_client.get(DOCTORS, {"has_slot_within_days": value})
    assert "has_slot_within_days" in error_of(response, 400, "VALIDATION_ERROR")["details"]


def test_search_by_name_bio_and_specialisation(api_client, doctor_profile, other_doctor_profile):
    doctor_profile.bio = "Heart failure clinic lead"
    doctor_profile.save()
    other_doctor_profile.user.last_name = "Okonkwo"
    other_doctor_profile.user.save()

    assert ids(success_data(api_client.get(DOCTORS, {"search": "failure"}))) == [str(doctor_profile.user_id)]
    assert ids(success_data(api_client.get(DOCTORS, {"search": "okonkwo"}))) == [
        str(other_doctor_profile.user_id)
    ]
    assert ids(success_data(api_client.get(DOCTORS, {"search": "Dermatology"}))) == [
        str(other_doctor_profile.user_id)
    ]


# --- Ordering ------------------------------------------------------------------------------------


def test_order_by_fee_and_experience(api_client, doctor_profile, other_doctor_profile, make_doctor):
    cheap = make_doctor(fee_amount=10_000, years_of_experience=30)
    assert ids(success_data(api_client.get(DOCTORS, {"ordering": "fee"}))) == [
        str(cheap.user_id),
        str(other_doctor_profile.user_id),
        str(doctor_profile.user_id),
    ]
    assert ids(success_data(api_client.get(DOCTORS, {"ordering": "-experience"}))) == [
        str(cheap.user_id),
        str(doctor_profile.user_id),
        str(other_doctor_profile.user_id),
    ]


@pytest.mark.parametrize("ordering", ["rating", "-rating"])
def test_unrated_doctors_sort_last_either_way(
    api_client, ordering, doctor_profile, other_doctor_profile, make_doctor
):
    DoctorProfile.objects.filter(pk=doctor_profile.pk).update(rating_sum=5, rating_count=1)
    DoctorProfile.objects.filter(pk=other_doctor_profile.pk).update(rating_sum=3, rating_count=1)
    unrated = make_doctor()

    listed = ids(success_data(api_client.get(DOCTORS, {"ordering": ordering})))

    rated = [str(other_doctor_profile.user_id), str(doctor_profile.user_id)]
    assert listed == [*(rated if ordering == "rating" else rated[::-1]), str(unrated.user_id)]


def test_unknown_ordering_is_refused(api_client):
    assert (
        "ordering"
        in error_of(api_client.get(DOCTORS, {"ordering": "phone"}), 400, "VALIDATION_ERROR")["details"]
    )


# --- Next free slot ------------------------------------------------------------------------------


def test_each_row_has_its_next_free_slot_in_utc(
    api_client, frozen_now, doctor_profile, other_doctor_profile, weekday_hours, make_doctor
):
    weekday_hours(doctor_profile, 0, "09:00", "11:00")  # today, Kolkata: 03:30 UTC
    ConsultationFactory(doctor=doctor_profile.user, scheduled_start="2030-01-07T03:30:00Z")
    weekday_hours(other_doctor_profile, 1, "09:00", "10:00")  # tomorrow, UTC
    idle = make_doctor()

    rows = {row["id"]: row for row in success_data(api_client.get(DOCTORS))["results"]}

    assert rows[str(doctor_profile.user_id)]["next_available_slot"] == {
        "start": "2030-01-07T04:00:00Z",
        "end": "2030-01-07T04:30:00Z",
        "clinic_id": None,
    }
    assert rows[str(other_doctor_profile.user_id)]["next_available_slot"]["start"] == "2030-01-08T09:00:00Z"
    assert rows[str(idle.user_id)]["next_available_slot"] is None


@pytest.mark.parametrize("doctors", [3, 25])
def test_listing_runs_a_constant_number_of_queries(
    api_client, frozen_now, doctors, make_doctor, weekday_hours, django_assert_max_num_queries
):
    for _ in range(doctors):
        profile = make_doctor(specialisations=["cardiology", "neurology"], languages=["en", "hi"])
        weekday_hours(profile, 0, "09:00", "12:00")
        weekday_hours(profile, 2, "09:00", "12:00")
        AvailabilityException.objects.create(doctor=profile, date=date(2030, 1, 7), kind="leave")
        ConsultationFactory(doctor=profile.user, scheduled_start="2030-01-09T09:00:00Z")

    # count, page, specialisations, languages, rules, exceptions, booked slots
    with django_assert_max_num_queries(7):
        data = success_data(api_client.get(DOCTORS, {"page_size": 25}))

    assert len(data["results"]) == doctors
    assert {row["next_available_slot"]["start"] for row in data["results"]} == {"2030-01-09T09:30:00Z"}


def test_availability_filters_keep_the_query_count_constant(
    api_client, frozen_now, make_doctor, weekday_hours, django_assert_max_num_queries
):
    for _ in range(15):
        weekday_hours(make_doctor(), 1, "09:00", "12:00")
    # the listing's 7, plus candidates, their rules, exceptions and booked slots for the filter
    with django_assert_max_num_queries(11):
        data = success_data(api_client.get(DOCTORS, {"available_on": "2030-01-08", "page_size": 50}))
    assert data["count"] == 15


def test_listing_is_paginated(api_client, make_doctor):
    for _ in range(3):
        make_doctor()
    data = success_data(api_client.get(DOCTORS, {"page_size": 2}))
    assert data["count"] == 3
    assert len(data["results"]) == 2
    assert data["total_pages"] == 2


# --- One doctor ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_a_verified_doctor(role, as_role, doctor_profile):
    doctor_profile.education.create(degree="MBBS", institution="AIIMS", year=2010)
    _, client = as_role(role)
    data = success_data(client.get(url(doctor_profile.user_id)))
    assert data["id"] == str(doctor_profile.user_id)
    assert data["registration_number"] == "NMC-1001"
    assert data["education"] == [
        {"id": doctor_profile.education.get().pk, "degree": "MBBS", "institution": "AIIMS", "year": 2010}
    ]


@pytest.mark.parametrize("role", ["anonymous", "patient", "other_patient", "other_doctor"])
def test_outsider_cannot_read_unverified_doctor(role, as_role, pending_profile):
    _, client = as_role(role)
    error = error_of(client.get(url(pending_profile.user_id)), 404, "NOT_FOUND")
    assert "NMC-3003" not in str(error)


@pytest.mark.parametrize("role", ["doctor", "admin_user", "superadmin"])
def test_self_and_staff_read_an_unverified_doctor_with_its_state(role, as_role, pending_profile):
    _, client = as_role(role)
    data = success_data(client.get(url(pending_profile.user_id)))
    assert data["verification_status"] == "pending"


def test_public_page_hides_the_verification_state(api_client, doctor_profile):
    data = success_data(api_client.get(url(doctor_profile.user_id)))
    assert "verification_status" not in data
    assert "rejection_reason" not in data


def test_unknown_doctor_is_not_found(api_client):
    error_of(api_client.get(url("00000000-0000-0000-0000-000000000000")), 404, "NOT_FOUND")


def test_malformed_currency_is_refused(api_client):
    assert (
        "currency"
        in error_of(api_client.get(DOCTORS, {"currency": "rupees"}), 400, "VALIDATION_ERROR")["details"]
    )


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2030-13-01"])
def test_available_on_is_validated(api_client, frozen_now, day):
    assert (
        "available_on"
        in error_of(api_client.get(DOCTORS, {"available_on": day}), 400, "VALIDATION_ERROR")["details"]
    )
