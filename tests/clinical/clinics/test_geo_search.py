from __future__ import annotations

import math
import random
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinical.clinics.filters import ClinicFilter
from clinical.clinics.geo import EARTH_RADIUS_KM, bounding_box, haversine_km
from clinical.clinics.selectors import public_clinics
from clinical.models import Clinic
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import ClinicFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/eclinic/"


def hand_haversine(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Written out independently of the code under test: hav(d/R) = hav(dφ) + cos φ1 cos φ2 hav(dλ)."""

    def hav(theta: float) -> float:
        return (1 - math.cos(theta)) / 2

    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = hav(p2 - p1) + math.cos(p1) * math.cos(p2) * hav(math.radians(lng2 - lng1))
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def place(name: str, lat: float, lng: float, **extra) -> Clinic:
    return ClinicFactory(name=name, latitude=Decimal(f"{lat:.6f}"), longitude=Decimal(f"{lng:.6f}"), **extra)


def search(client, lat, lng, radius_km, **params) -> list[dict]:
    query = {"lat": lat, "lng": lng, "radius_km": radius_km, "page_size": 100, **params}
    return success_data(client.get(URL, query))["results"]


# --- The box and the distance, without the database ------------------------------------------------


def test_hand_haversine_matches_known_distances():
    one_degree = EARTH_RADIUS_KM * math.pi / 180
    assert hand_haversine(0, 0, 0, 1) == pytest.approx(one_degree)
    assert hand_haversine(10, 20, 11, 20) == pytest.approx(one_degree)
    # Bengaluru to Chennai, about 290 km as the crow flies.
    assert hand_haversine(12.9716, 77.5946, 13.0827, 80.2707) == pytest.approx(290.2, abs=0.5)


def test_haversine_agrees_with_the_hand_computation():
    rng = random.Random(7)
    for _ in range(200):
        a = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        b = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        assert haversine_km(*a, *b) == pytest.approx(hand_haversine(*a, *b), abs=1e-6)


def test_box_widens_in_longitude_at_high_latitudes():
    equator = bounding_box(0, 10, 100)
    north = bounding_box(80, 10, 100)

    assert float(equator.max_lat - equator.min_lat) == pytest.approx(2 * 100 / 111.195, rel=1e-3)
    [(eq_low, eq_high)] = equator.lng_ranges
    [(n_low, n_high)] = north.lng_ranges
    assert float(n_high - n_low) > 5 * float(eq_high - eq_low)


def test_box_covers_every_longitude_when_the_circle_contains_a_pole():
    box = bounding_box(89.5, 0, 100)

    assert box.lng_ranges == ()
    assert box.max_lat == 90
    assert bounding_box(-89.5, 0, 100).min_lat == -90


def test_box_is_split_across_the_antimeridian():
    half_width = math.degrees(50 / EARTH_RADIUS_KM)  # at the equator

    [(e_low, e_high), (w_low, w_high)] = bounding_box(0, 179.9, 50).lng_ranges
    assert (e_high, w_low) == (180, -180)
    assert float(e_low) == pytest.approx(179.9 - half_width, abs=1e-6)
    assert float(w_high) == pytest.approx(179.9 + half_width - 360, abs=1e-6)

    [(e_low, e_high), (w_low, w_high)] = bounding_box(0, -179.9, 50).lng_ranges
    assert (e_high, w_low) == (180, -180)
    assert float(e_low) == pytest.approx(-179.9 - half_width + 360, abs=1e-6)
    assert float(w_high) == pytest.approx(-179.9 + half_width, abs=1e-6)


def test_every_point_within_the_radius_is_inside_the_box():
    rng = random.Random(11)
    for _ in range(300):
        lat, lng, radius = rng.uniform(-89, 89), rng.uniform(-180, 180), rng.uniform(1, 500)
        box = bounding_box(lat, lng, radius)
        # A point at exactly the radius in a random direction.
        bearing, angular = rng.uniform(0, 2 * math.pi), radius / EARTH_RADIUS_KM
        p1, l1 = math.radians(lat), math.radians(lng)
        p2 = math.asin(
            math.sin(p1) * math.cos(angular) + math.cos(p1) * math.sin(angular) * math.cos(bearing)
        )
        l2 = l1 + math.atan2(
            math.sin(bearing) * math.sin(angular) * math.cos(p1),
            math.cos(angular) - math.sin(p1) * math.sin(p2),
        )
        plat, plng = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
        assert box.min_lat <= Decimal(repr(plat)) <= box.max_lat
        if box.lng_ranges:
            assert any(low <= Decimal(repr(plng)) <= high for low, high in box.lng_ranges)


# --- The search through the API --------------------------------------------------------------------


def test_results_are_ordered_by_distance_with_exact_distances(api_client):
    centre = (12.9716, 77.5946)
    place("Far", 13.20, 77.70)
    place("Near", 12.98, 77.60)
    place("Middle", 13.05, 77.50)
    place("Out of range", 13.90, 77.59)
    place("No coordinates", 0, 0).__class__.objects.filter(name="No coordinates").update(
        latitude=None, longitude=None
    )
    place("Pending nearby", 12.9717, 77.5947, verification_status="pending")

    results = search(api_client, *centre, 40)

    assert [r["name"] for r in results] == ["Near", "Middle", "Far"]
    for row in results:
        expected = hand_haversine(*centre, row["latitude"], row["longitude"])
        assert row["distance_km"] == pytest.approx(expected, abs=0.0006)
    assert [r["distance_km"] for r in results] == sorted(r["distance_km"] for r in results)


def test_radius_edge_is_inclusive_to_the_metre(api_client):
    # Along a meridian the distance is R·Δφ: the last six-decimal latitude inside 10 km, and the next.
    inside_lat = math.floor(math.degrees(10 / EARTH_RADIUS_KM) * 1e6) / 1e6
    outside_lat = inside_lat + 0.000002
    assert hand_haversine(0, 0, inside_lat, 0) < 10 < hand_haversine(0, 0, outside_lat, 0)
    place("Inside", inside_lat, 0)
    place("Outside", outside_lat, 0)

    assert [r["name"] for r in search(api_client, 0, 0, 10)] == ["Inside"]


def test_search_finds_clinics_across_the_antimeridian(api_client):
    place("Taveuni east", -16.8, 179.95)
    place("Taveuni west", -16.8, -179.95)
    place("Too far west", -16.8, -178.5)

    from_east = search(api_client, -16.8, 179.99, 20)
    from_west = search(api_client, -16.8, -179.99, 20)

    assert [r["name"] for r in from_east] == ["Taveuni east", "Taveuni west"]
    assert [r["name"] for r in from_west] == ["Taveuni west", "Taveuni east"]
    assert from_east[1]["distance_km"] == pytest.approx(
        hand_haversine(-16.8, 179.99, -16.8, -179.95), abs=0.001
    )


def test_search_at_high_latitude_finds_clinics_many_degrees_of_longitude_away(api_client):
    # At 78°N a degree of longitude is ~23 km: 4° east is ~93 km, inside a 100 km radius.
    place("Longyearbyen east", 78.2, 19.6)
    place("Longyearbyen", 78.2, 15.6)

    names = [r["name"] for r in search(api_client, 78.2, 15.6, 100)]

    assert names == ["Longyearbyen", "Longyearbyen east"]


def test_search_around_a_pole_crosses_it(api_client):
    place("Across the pole", 89.7, 180)
    place("Same side, beyond 100 km", 88.5, 0)

    results = search(api_client, 89.5, 0, 100)

    assert [r["name"] for r in results] == ["Across the pole"]
    assert results[0]["distance_km"] == pytest.approx(hand_haversine(89.5, 0, 89.7, 180), abs=0.001)


def test_default_radius_applies_when_only_a_centre_is_given(api_client):
    place("Within 25 km", 12.9716, 77.80)
    place("Beyond 25 km", 12.9716, 77.90)

    data = success_data(api_client.get(URL, {"lat": 12.9716, "lng": 77.5946}))

    assert [r["name"] for r in data["results"]] == ["Within 25 km"]


def test_geo_search_combines_with_filters_and_explicit_ordering(api_client):
    place("Beta", 12.98, 77.60, city="Bengaluru")
    place("Alpha", 13.00, 77.60, city="Bengaluru")
    place("Gamma", 12.97, 77.59, city="Mysuru")

    assert [r["name"] for r in search(api_client, 12.97, 77.59, 10, city="bengaluru")] == ["Beta", "Alpha"]
    assert [r["name"] for r in search(api_client, 12.97, 77.59, 10, ordering="name")] == [
        "Alpha",
        "Beta",
        "Gamma",
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 90.1, "lng": 0, "radius_km": 5}, "lat"),
        ({"lat": -91, "lng": 0, "radius_km": 5}, "lat"),
        ({"lat": 0, "lng": 180.5, "radius_km": 5}, "lng"),
        ({"lat": 0, "lng": -181, "radius_km": 5}, "lng"),
        ({"lat": 0, "lng": 0, "radius_km": 0}, "radius_km"),
        ({"lat": 0, "lng": 0, "radius_km": -3}, "radius_km"),
        ({"lat": 0, "lng": 0, "radius_km": 500.01}, "radius_km"),
        ({"lat": "north", "lng": 0, "radius_km": 5}, "lat"),
        ({"lat": "NaN", "lng": 0, "radius_km": 5}, "lat"),
        ({"lat": 10, "radius_km": 5}, "lng"),
        ({"lng": 10}, "lat"),
        ({"radius_km": 5}, "radius_km"),
    ],
)
def test_invalid_geo_parameters_are_refused(api_client, params, field):
    error = error_of(api_client.get(URL, params), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_poles_and_dateline_are_valid_centres(api_client):
    for lat, lng in [(90, 0), (-90, 0), (0, 180), (0, -180)]:
        assert search(api_client, lat, lng, 500) == []


def test_the_search_uses_the_bounding_box_and_matches_a_brute_force_scan(api_client):
    rng = random.Random(2024)
    creator = UserFactory()
    clinics = [
        Clinic(
            name=f"C{n:03d}",
            latitude=Decimal(f"{rng.uniform(8, 18):.6f}"),
            longitude=Decimal(f"{rng.uniform(72, 82):.6f}"),
            verification_status="verified",
            created_by=creator,
        )
        for n in range(300)
    ]
    Clinic.objects.bulk_create(clinics)
    centre, radius = (12.9716, 77.5946), 150

    with CaptureQueriesContext(connection) as captured:
        results = search(api_client, *centre, radius, page_size=100)

    expected = sorted(
        (hand_haversine(*centre, float(c.latitude), float(c.longitude)), c.name)
        for c in clinics
        if hand_haversine(*centre, float(c.latitude), float(c.longitude)) <= radius
    )
    assert 10 < len(expected) <= 100
    assert [r["name"] for r in results] == [name for _, name in expected]
    main = next(q["sql"] for q in captured.captured_queries if 'AS "distance_km"' in q["sql"])
    assert re.search(r'"clinical_clinic"\."latitude" >= ', main)
    assert re.search(r'"clinical_clinic"\."latitude" <= ', main)
    assert re.search(r'"clinical_clinic"\."longitude" >= ', main)
    assert re.search(r'"clinical_clinic"\."longitude" <= ', main)


@pytest.mark.postgres
def test_postgres_answers_the_box_from_the_clinic_lat_lng_index(db):
    rng = random.Random(5)
    creator = UserFactory()
    Clinic.objects.bulk_create(
        Clinic(
            name=f"C{n:03d}",
            latitude=Decimal(f"{rng.uniform(-60, 60):.6f}"),
            longitude=Decimal(f"{rng.uniform(-180, 180):.6f}"),
            verification_status="verified",
            created_by=creator,
        )
        for n in range(400)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinical_clinic")
        # The table is tiny: without this the planner rightly prefers reading it whole.
        cursor.execute("SET LOCAL enable_seqscan = off")
    queryset = ClinicFilter(
        {"lat": "12.97", "lng": "77.59", "radius_km": "100"}, queryset=public_clinics()
    ).qs

    plan = queryset.explain()

    assert re.search(r"(Index Scan using|Bitmap Index Scan on) clinic_lat_lng", plan), plan
    assert re.search(r"Index Cond: .*latitude >= ", plan), plan
