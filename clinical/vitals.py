"""Vital-sign rules: accepted units, what is physiologically possible (else the reading is refused),
and what is normal (else an alert is raised). Normal ranges can be overridden by settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from clinical.models import VitalKind

Range = tuple[float, float]


@dataclass(frozen=True)
class VitalRule:
    units: dict[str, Range]  # unit -> physiologically possible range
    second_units: dict[str, Range] | None = None  # diastolic, for blood pressure


RULES: dict[str, VitalRule] = {
    VitalKind.HEART_RATE: VitalRule({"bpm": (20, 300)}),
    VitalKind.SPO2: VitalRule({"%": (50, 100)}),
    VitalKind.BLOOD_PRESSURE: VitalRule({"mmHg": (50, 300)}, second_units={"mmHg": (20, 200)}),
    VitalKind.TEMPERATURE: VitalRule({"C": (25, 45), "F": (77, 113)}),
    VitalKind.RESPIRATORY_RATE: VitalRule({"breaths/min": (2, 80)}),
    VitalKind.GLUCOSE: VitalRule({"mg/dL": (10, 1000), "mmol/L": (0.5, 55)}),
    VitalKind.WEIGHT: VitalRule({"kg": (0.5, 650), "lb": (1, 1430)}),
}

# Normal ranges per kind and unit; a reading outside raises an alert. ``value2`` is diastolic.
DEFAULT_NORMAL_RANGES: dict[str, dict[str, dict[str, Range]]] = {
    VitalKind.HEART_RATE: {"bpm": {"value": (50, 120)}},
    VitalKind.SPO2: {"%": {"value": (92, 100)}},
    VitalKind.BLOOD_PRESSURE: {"mmHg": {"value": (90, 140), "value2": (60, 90)}},
    VitalKind.TEMPERATURE: {"C": {"value": (35.0, 38.0)}, "F": {"value": (95.0, 100.4)}},
    VitalKind.RESPIRATORY_RATE: {"breaths/min": {"value": (10, 24)}},
    VitalKind.GLUCOSE: {"mg/dL": {"value": (70, 180)}, "mmol/L": {"value": (3.9, 10.0)}},
}


def validate_reading(kind: str, unit: str, value: float, value2: float | None) -> list[str]:
    """Problems with a reading, as messages; empty when it is plausible."""
    rule = RULES.get(kind)
    if rule is None:
        return [f"Unknown vital kind {kind!r}."]
    if unit not in rule.units:
        return [f"Unit for {kind} must be one of {sorted(rule.units)}."]
    problems = []
    low, high = rule.units[unit]
    if not low <= value <= high:
        problems.append(f"{kind} {value} {unit} is outside the possible range {low}-{high}.")
    if rule.second_units is not None:
        if value2 is None:
            problems.append(f"{kind} needs both systolic (value) and diastolic (value2).")
        else:
            low2, high2 = rule.second_units[unit]
            if not low2 <= value2 <= high2:
                problems.append(f"diastolic {value2} {unit} is outside the possible range {low2}-{high2}.")
            elif value2 >= value:
                problems.append("diastolic must be lower than systolic.")
    elif value2 is not None:
        problems.append(f"{kind} takes a single value.")
    return problems


def normal_ranges() -> dict[str, dict[str, dict[str, Range]]]:
    overrides = getattr(settings, "VITALS_NORMAL_RANGES", None) or {}
    merged = {kind: dict(units) for kind, units in DEFAULT_NORMAL_RANGES.items()}
    for kind, units in overrides.items():
        merged.setdefault(kind, {}).update(units)
    return merged


def abnormal_fields(kind: str, unit: str, value: float, value2: float | None) -> dict[str, Range]:
    """The fields of a reading outside their normal range, with that range."""
    ranges = normal_ranges().get(kind, {}).get(unit, {})
    readings = {"value": value, "value2": value2}
    return {
        field: (low, high)
        for field, (low, high) in ranges.items()
        if readings[field] is not None and not low <= readings[field] <= high
    }
