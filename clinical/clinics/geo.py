"""Distance search: a bounding box the ``clinic_lat_lng`` index can answer, then the exact
great-circle (haversine) distance computed in the database on the rows that survive the box.

The box is the one of Jan Matuschek's "Finding Points Within a Distance of a Latitude/Longitude
Using Bounding Coordinates": its longitude half-width grows with latitude (a degree of longitude
shrinks towards the poles), it covers every longitude when the circle reaches a pole, and it is
split in two when it crosses the antimeridian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db.models import F, FloatField, Q, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import ASin, Cast, Cos, Least, Power, Radians, Sin, Sqrt

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
MAX_RADIUS_KM = 500
DEFAULT_RADIUS_KM = 25
# The columns store six decimal places; the box is rounded outwards to them so that it never
# excludes a row the exact distance would keep.
_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class BoundingBox:
    min_lat: Decimal
    max_lat: Decimal
    # Inclusive longitude ranges; empty means every longitude (the circle contains a pole).
    lng_ranges: tuple[tuple[Decimal, Decimal], ...]


def _down(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_PLACES, rounding=ROUND_FLOOR)


def _up(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_PLACES, rounding=ROUND_CEILING)


def bounding_box(lat: float, lng: float, radius_km: float) -> BoundingBox:
    """The smallest latitude/longitude box containing every point within ``radius_km``."""
    angular = radius_km / EARTH_RADIUS_KM
    lat_r, lng_r = math.radians(lat), math.radians(lng)
    min_lat_r, max_lat_r = lat_r - angular, lat_r + angular
    if min_lat_r <= -math.pi / 2 or max_lat_r >= math.pi / 2:
        # A pole is inside the circle: every meridian crosses it, so all longitudes qualify.
        return BoundingBox(
            min_lat=_down(max(math.degrees(min_lat_r), -90.0)),
            max_lat=_up(min(math.degrees(max_lat_r), 90.0)),
            lng_ranges=(),
        )
    delta_lng = math.asin(math.sin(angular) / math.cos(lat_r))
    min_lng = math.degrees(lng_r - delta_lng)
    max_lng = math.degrees(lng_r + delta_lng)
    if min_lng < -180.0:
        ranges = ((_down(min_lng + 360.0), Decimal(180)), (Decimal(-180), _up(max_lng)))
    elif max_lng > 180.0:
        ranges = ((_down(min_lng), Decimal(180)), (Decimal(-180), _up(max_lng - 360.0)))
    else:
        ranges = ((_down(min_lng), _up(max_lng)),)
    return BoundingBox(_down(math.degrees(min_lat_r)), _up(math.degrees(max_lat_r)), ranges)


def bounding_box_q(box: BoundingBox, lat_field: str = "latitude", lng_field: str = "longitude") -> Q:
    """Range conditions on the indexed columns (``lat`` first: it leads the index)."""
    q = Q(**{f"{lat_field}__gte": box.min_lat, f"{lat_field}__lte": box.max_lat})
    if box.lng_ranges:
        lng_q = Q()
        for low, high in box.lng_ranges:
            lng_q |= Q(**{f"{lng_field}__gte": low, f"{lng_field}__lte": high})
        q &= lng_q
    return q


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance on a sphere of the mean Earth radius."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_km_expression(
    lat: float, lng: float, lat_field: str = "latitude", lng_field: str = "longitude"
) -> Combinable:
    """``haversine_km`` as a database expression (Django registers these functions on SQLite too)."""

    def const(value: float) -> Value:
        return Value(value, output_field=FloatField())

    row_lat = Radians(Cast(F(lat_field), FloatField()))
    row_lng = Radians(Cast(F(lng_field), FloatField()))
    half_d_lat = (row_lat - const(math.radians(lat))) / const(2.0)
    half_d_lng = (row_lng - const(math.radians(lng))) / const(2.0)
    a = Power(Sin(half_d_lat), 2) + const(math.cos(math.radians(lat))) * Cos(row_lat) * Power(
        Sin(half_d_lng), 2
    )
    # Rounding can push ``a`` a hair over 1 for antipodal points; ASIN would then fail.
    return const(2 * EARTH_RADIUS_KM) * ASin(Least(Sqrt(a), const(1.0)))
