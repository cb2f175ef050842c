"""The history reader: past days come from the roll-ups of the window's own zone, the rest live, and
the answer is the same either way; a year's range costs no more queries than a month's."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import history, rollups
from analytics.models import DailyRollup, Metric
from analytics.periods import Window
from tests.analytics.overview_expected import BASE, KOLKATA, UTC_ZONE, data_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2030, 3, 15)  # seed.NOW's day in Kolkata and in UTC
EVERY_METRIC = list(rollups.COUNT_METRICS) + rollups.MONEY_METRICS


def window(start: date, end: date = TODAY, zone=KOLKATA) -> Window:
    return Window(start=start, end=end, zone=zone, granularity="day")


@pytest.fixture
def live_calls(monkeypatch):
    """The (start, end) of every live computation the reader asks for."""
    calls = []
    compute = rollups.compute_metrics

    def spy(metrics, zone, start, end):
        calls.append((zone.key, start, end))
        return compute(metrics, zone, start, end)

    monkeypatch.setattr(rollups, "compute_metrics", spy)
    return calls


def test_rolled_up_days_and_live_days_give_the_same_answer(seeded, live_calls):
    w = window(date(2030, 1, 1))
    live = history.daily_values_many(EVERY_METRIC, w)
    # A gap in the roll-ups (2-10 March) is computed live, like today.
    rollups.rollup_days(KOLKATA, date(2030, 1, 1), date(2030, 3, 1))
    rollups.rollup_days(KOLKATA, date(2030, 3, 11), date(2030, 3, 14))
    live_calls.clear()

    assert history.daily_values_many(EVERY_METRIC, w) == live
    assert live_calls == [("Asia/Kolkata", date(2030, 3, 2), TODAY)]
    assert sum(sum(v.values()) for v in live[Metric.CONSULTATIONS_BY_STATE].values()) > 40


def test_only_the_windows_zone_is_read(seeded, live_calls):
    rollups.rollup_days(UTC_ZONE, date(2030, 2, 1), date(2030, 3, 14))
    live_calls.clear()

    history.daily_values(Metric.SIGNUPS_BY_ROLE, window(date(2030, 2, 1)))

    assert live_calls == [("Asia/Kolkata", date(2030, 2, 1), TODAY)]  # UTC days do not fit Kolkata


def test_a_stored_day_is_what_the_reader_returns(seeded, live_calls):
    rollups.rollup_day(date(2030, 3, 1), KOLKATA)
    DailyRollup.objects.filter(
        time_zone="Asia/Kolkata", day=date(2030, 3, 1), metric=Metric.SIGNUPS_BY_ROLE, dimension="patient"
    ).update(value=999)
    live_calls.clear()

    values = history.daily_values(Metric.SIGNUPS_BY_ROLE, window(date(2030, 3, 1), date(2030, 3, 1)))

    assert values[date(2030, 3, 1)]["patient"] == 999
    assert live_calls == []


def test_today_is_never_read_from_roll_ups(seeded, live_calls):
    rollups.rollup_day(TODAY, KOLKATA)  # by hand, before the day is over
    live_calls.clear()

    history.daily_values(Metric.CONSULTATIONS_BY_STATE, window(TODAY))

    assert live_calls == [("Asia/Kolkata", TODAY, TODAY)]


def test_a_year_is_served_from_roll_ups_in_as_many_queries_as_a_month(
    alan, seeded, settings, live_calls, django_assert_max_num_queries
):
    settings.ANALYTICS_CACHE_SECONDS = 0
    year = f"from={TODAY - timedelta(days=365)}&to={TODAY}&tz=Asia/Kolkata"
    month = f"from={TODAY - timedelta(days=29)}&to={TODAY}&tz=Asia/Kolkata"
    urls = [f"{BASE}consultations/?{year}", f"{BASE}user-growth/?{year}"]
    live_answers = [data_of(alan.get(url)) for url in urls]

    rollups.rollup_days(KOLKATA, TODAY - timedelta(days=365), TODAY - timedelta(days=1))
    live_calls.clear()
    counts = []
    for query in (month, year):
        with CaptureQueriesContext(connection) as captured:
            data_of(alan.get(f"{BASE}consultations/?{query}"))
            data_of(alan.get(f"{BASE}user-growth/?{query}"))
        counts.append(len(captured))
    assert counts[0] == counts[1]
    assert {(zone, start, end) for zone, start, end in live_calls} == {("Asia/Kolkata", TODAY, TODAY)}
    assert [data_of(alan.get(url)) for url in urls] == live_answers
    with django_assert_max_num_queries(counts[1]):
        data_of(alan.get(f"{BASE}consultations/?{year}"))
        data_of(alan.get(f"{BASE}user-growth/?{year}"))


def test_reporting_zones_are_the_settings_and_the_staffs_own(db, settings):
    settings.ANALYTICS_TIME_ZONES = ["UTC", "Europe/London"]
    UserFactory(role="admin", timezone="Asia/Kolkata")
    UserFactory(role="superadmin", timezone="America/New_York")
    UserFactory(role="doctor", timezone="Asia/Tokyo")

    assert [zone.key for zone in rollups.reporting_zones()] == [
        "America/New_York",
        "Asia/Kolkata",
        "Europe/London",
        "UTC",
    ]


def test_the_dashboard_month_uses_roll_ups_too(ada, seeded, live_calls):
    rollups.rollup_days(KOLKATA, date(2030, 3, 1), TODAY - timedelta(days=1))
    live_calls.clear()

    data_of(ada.get(f"{BASE}dashboard/"))

    assert {(start, end) for _, start, end in live_calls} == {(TODAY, TODAY)}
