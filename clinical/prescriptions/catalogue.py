"""The shipped medication catalogue (``clinical/data/medications.json``), loaded into ``Medication``.

Loading is idempotent: entries are matched on the catalogue's natural key (generic name, brand, form,
strength), new ones are created and a changed drug class is updated; nothing is ever deleted, since
issued prescriptions point at catalogue rows. ``seed_demo`` and the test fixtures call it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction

from clinical.models import DosageForm, Medication
from clinical.prescriptions.interactions import MEDICATIONS_FILE


@dataclass(frozen=True)
class CatalogueResult:
    created: int
    updated: int
    unchanged: int


def catalogue_entries() -> list[dict[str, str]]:
    entries = json.loads(MEDICATIONS_FILE.read_text(encoding="utf-8"))["medications"]
    forms = set(DosageForm.values)
    for entry in entries:
        if entry["form"] not in forms:
            raise ValueError(f"Unknown dosage form in the catalogue: {entry!r}")
    return entries


def ensure_catalogue() -> CatalogueResult:
    """Create missing catalogue rows and refresh drug classes. Safe to run any number of times."""
    entries = catalogue_entries()
    existing = {
        (m.generic_name, m.brand_name, m.form, m.strength): m
        for m in Medication.objects.filter(generic_name__in={e["generic_name"] for e in entries})
    }
    created, updated, unchanged = [], [], 0
    for entry in entries:
        key = (entry["generic_name"], entry["brand_name"], entry["form"], entry["strength"])
        row = existing.get(key)
        if row is None:
            created.append(Medication(**entry))
        elif row.drug_class != entry["drug_class"]:
            row.drug_class = entry["drug_class"]
            updated.append(row)
        else:
            unchanged += 1
    with transaction.atomic():
        # ignore_conflicts: a concurrent run that created the same rows is not an error.
        Medication.objects.bulk_create(created, ignore_conflicts=True)
        Medication.objects.bulk_update(updated, ["drug_class"])
    return CatalogueResult(created=len(created), updated=len(updated), unchanged=unchanged)
