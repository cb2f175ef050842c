"""Interaction and allergy checking against the shipped table in ``clinical/data/interactions.json``.

Pure functions over names: no ORM here, so the rules are easy to test and to read. Medicines are
reduced to their generic ingredients (aliases and combination products resolved), free text such as a
patient's "Ecosprin 75 daily" is scanned for known generic, alias and brand names, and every pair is
looked up in the table. The table is deliberately small and says so: it is a safety net, not a
complete clinical decision support source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
INTERACTIONS_FILE = DATA_DIR / "interactions.json"
MEDICATIONS_FILE = DATA_DIR / "medications.json"

MINOR, MODERATE, SEVERE = "minor", "moderate", "severe"
SEVERITIES = (MINOR, MODERATE, SEVERE)
_RANK = {MINOR: 0, MODERATE: 1, SEVERE: 2}

# What a finding was found against.
AGAINST_PRESCRIPTION = "prescription"  # another item of the same prescription
AGAINST_CURRENT_MEDICATION = "current_medication"  # the patient's recorded current medicines
AGAINST_ACTIVE_PRESCRIPTION = "active_prescription"  # items of the patient's other running prescriptions
AGAINST_ALLERGY = "allergy"

KIND_INTERACTION = "interaction"
KIND_DUPLICATE = "duplicate"
KIND_ALLERGY = "allergy"
KIND_CROSS_REACTIVITY = "allergy_cross_reactivity"


def normalise(text: str) -> str:
    """Lower case, runs of anything but letters and digits collapsed to one space."""
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip()


@dataclass(frozen=True)
class Interaction:
    drugs: tuple[str, str]
    severity: str
    effect: str
    source: str


@dataclass(frozen=True)
class AllergyClass:
    name: str
    aliases: frozenset[str]
    members: frozenset[str]
    cross_reactivity: tuple[dict[str, str], ...]
    note: str


@dataclass(frozen=True)
class Table:
    disclaimer: str
    aliases: dict[str, str]
    interactions: dict[frozenset[str], Interaction]
    classes: dict[str, AllergyClass]
    # Every name that may appear in free text, normalised, mapped to the ingredients it stands for.
    vocabulary: dict[str, frozenset[str]]


@cache
def table() -> Table:
    """The table, loaded and checked once. A malformed file fails loudly at first use."""
    raw = json.loads(INTERACTIONS_FILE.read_text(encoding="utf-8"))
    aliases = {normalise(k): v for k, v in raw["aliases"].items()}

    interactions: dict[frozenset[str], Interaction] = {}
    for entry in raw["interactions"]:
        a, b = (normalise(d) for d in entry["drugs"])
        key = frozenset({a, b})
        if len(key) != 2 or entry["severity"] not in SEVERITIES or not entry["source"].strip():
            raise ValueError(f"Bad interaction entry: {entry!r}")
        if key in interactions:
            raise ValueError(f"Duplicate interaction pair: {sorted(key)}")
        interactions[key] = Interaction((a, b), entry["severity"], entry["effect"], entry["source"])

    classes: dict[str, AllergyClass] = {}
    for name, spec in raw["allergy_classes"].items():
        classes[name] = AllergyClass(
            name=name,
            aliases=frozenset(normalise(a) for a in [name, *spec.get("aliases", [])]),
            members=frozenset(normalise(m) for m in spec["members"]),
            cross_reactivity=tuple(spec.get("cross_reactivity", [])),
            note=spec.get("note", ""),
        )

    vocabulary: dict[str, frozenset[str]] = {}
    catalogue = json.loads(MEDICATIONS_FILE.read_text(encoding="utf-8"))["medications"]
    known_names = {d for key in interactions for d in key}
    known_names |= {m for cls in classes.values() for m in cls.members}
    for name in known_names:
        vocabulary[name] = frozenset({name})
    table_so_far = Table(raw["disclaimer"], aliases, interactions, classes, {})
    for alias in aliases:
        vocabulary[alias] = ingredients_of(alias, table_so_far)
    for entry in catalogue:
        ingredients = ingredients_of(entry["generic_name"], table_so_far)
        vocabulary.setdefault(normalise(entry["generic_name"]), ingredients)
        for ingredient in ingredients:
            vocabulary.setdefault(ingredient, frozenset({ingredient}))
        if entry["brand_name"]:
            vocabulary.setdefault(normalise(entry["brand_name"]), ingredients)
    return Table(raw["disclaimer"], aliases, interactions, classes, vocabulary)


def ingredients_of(generic_name: str, tbl: Table | None = None) -> frozenset[str]:
    """The generic ingredients of a catalogue generic name: aliases resolved, ``a + b`` split."""
    tbl = tbl or table()
    whole = normalise(generic_name)
    if whole in tbl.aliases:
        generic_name = tbl.aliases[whole]
    found: set[str] = set()
    for part in re.split(r"\s*[+/]\s*", generic_name):
        name = normalise(part)
        if not name:
            continue
        target = tbl.aliases.get(name, name)
        found.update(normalise(t) for t in re.split(r"\s*[+/]\s*", target))
    return frozenset(found)


def ingredients_in_text(text: str) -> frozenset[str]:
    """Ingredients named anywhere in free text, by generic, alias or brand name (whole words)."""
    padded = f" {normalise(text)} "
    found: set[str] = set()
    for name, ingredients in table().vocabulary.items():
        if f" {name} " in padded:
            found |= ingredients
    return frozenset(found)


def classes_of(ingredients: Iterable[str], drug_class: str = "") -> set[str]:
    """Allergy classes a medicine belongs to, by ingredient or by its catalogue drug class."""
    ingredients = set(ingredients)
    label = normalise(drug_class)
    return {
        cls.name
        for cls in table().classes.values()
        if ingredients & cls.members or (label and label in cls.aliases)
    }


def allergy_classes_named(substance: str) -> set[str]:
    """Classes an allergy names directly ("penicillin allergy", "sulfa")."""
    padded = f" {normalise(substance)} "
    return {
        cls.name for cls in table().classes.values() if any(f" {alias} " in padded for alias in cls.aliases)
    }


@dataclass(frozen=True)
class Drug:
    """Something to check: a prescription item, a current medicine, an item of another prescription."""

    label: str
    ingredients: frozenset[str]
    drug_class: str = ""
    against: str = AGAINST_PRESCRIPTION


@dataclass(frozen=True)
class Allergy:
    substance: str
    severity: str = ""


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    item: str  # the prescribed medicine
    other: str  # the other medicine, or the allergy substance
    against: str
    drugs: tuple[str, ...]
    effect: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drugs"] = list(self.drugs)
        return data


def _pair_findings(item: Drug, other: Drug) -> list[Finding]:
    findings: list[Finding] = []
    shared = sorted(item.ingredients & other.ingredients)
    if shared:
        findings.append(
            Finding(
                kind=KIND_DUPLICATE,
                severity=MODERATE,
                item=item.label,
                other=other.label,
                against=other.against,
                drugs=tuple(shared),
                effect=f"Both contain {', '.join(shared)}: duplicate therapy, risk of overdose.",
                source="Same ingredient",
            )
        )
    seen: set[frozenset[str]] = set()
    for a in sorted(item.ingredients):
        for b in sorted(other.ingredients):
            key = frozenset({a, b})
            hit = table().interactions.get(key)
            if hit is None or key in seen:
                continue
            seen.add(key)
            findings.append(
                Finding(
                    kind=KIND_INTERACTION,
                    severity=hit.severity,
                    item=item.label,
                    other=other.label,
                    against=other.against,
                    drugs=(a, b),
                    effect=hit.effect,
                    source=hit.source,
                )
            )
    return findings


def _allergy_findings(item: Drug, allergy: Allergy) -> list[Finding]:
    named_ingredients = ingredients_in_text(allergy.substance)
    # An allergy to one member of a class is taken as an allergy to the class (all penicillins).
    allergic_classes = allergy_classes_named(allergy.substance) | classes_of(named_ingredients)
    item_classes = classes_of(item.ingredients, item.drug_class)
    direct = sorted(item.ingredients & named_ingredients)
    if direct or allergic_classes & item_classes:
        classes = sorted(allergic_classes & item_classes)
        reason = (
            f"Recorded allergy to {allergy.substance}: the medicine contains {', '.join(direct)}."
            if direct
            else f"Recorded allergy to {allergy.substance}: the medicine is one of the {', '.join(classes)}."
        )
        return [
            Finding(
                kind=KIND_ALLERGY,
                severity=SEVERE,
                item=item.label,
                other=allergy.substance,
                against=AGAINST_ALLERGY,
                drugs=tuple(direct or classes),
                effect=reason,
                source="Patient's recorded allergies",
            )
        ]
    findings = []
    for class_name in sorted(allergic_classes):
        for cross in table().classes[class_name].cross_reactivity:
            if cross["class"] in item_classes:
                findings.append(
                    Finding(
                        kind=KIND_CROSS_REACTIVITY,
                        severity=cross["severity"],
                        item=item.label,
                        other=allergy.substance,
                        against=AGAINST_ALLERGY,
                        drugs=(class_name, cross["class"]),
                        effect=cross["note"],
                        source=cross["source"],
                    )
                )
    return findings


def check(items: list[Drug], others: list[Drug], allergies: list[Allergy]) -> list[Finding]:
    """All findings for ``items`` (the prescription): pairwise among themselves, against ``others``
    (current medicines, other running prescriptions) and against ``allergies``. Most severe first."""
    findings: list[Finding] = []
    for index, item in enumerate(items):
        for other in items[index + 1 :]:
            findings.extend(_pair_findings(item, other))
        for other in others:
            findings.extend(_pair_findings(item, other))
        for allergy in allergies:
            findings.extend(_allergy_findings(item, allergy))
    return sorted(findings, key=lambda f: -_RANK[f.severity])


def is_blocking(findings: Iterable[Finding | dict]) -> bool:
    return any((f["severity"] if isinstance(f, dict) else f.severity) == SEVERE for f in findings)
