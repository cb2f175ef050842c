from __future__ import annotations

import json

import pytest

from clinical.prescriptions import interactions as ix
from clinical.prescriptions.catalogue import catalogue_entries


def drug(name: str, against: str = ix.AGAINST_PRESCRIPTION, drug_class: str = "") -> ix.Drug:
    return ix.Drug(label=name, ingredients=ix.ingredients_of(name), drug_class=drug_class, against=against)


def text_drug(text: str) -> ix.Drug:
    return ix.Drug(
        label=text, ingredients=ix.ingredients_in_text(text), against=ix.AGAINST_CURRENT_MEDICATION
    )


# --- The shipped table ---------------------------------------------------------------------------


def test_table_documents_its_scope_and_is_not_a_complete_source():
    raw = json.loads(ix.INTERACTIONS_FILE.read_text())
    assert "NOT a complete clinical decision support source" in raw["disclaimer"]
    assert raw["scope"]
    assert set(raw["severity_levels"]) == set(ix.SEVERITIES)


def test_table_has_at_least_thirty_sourced_pairs():
    table = ix.table()
    assert len(table.interactions) >= 30
    for pair in table.interactions.values():
        assert pair.severity in ix.SEVERITIES
        assert pair.effect.strip()
        assert pair.source.strip()
    assert {p.severity for p in table.interactions.values()} == set(ix.SEVERITIES)


def test_every_drug_in_the_table_is_in_the_catalogue():
    in_catalogue = set()
    for entry in catalogue_entries():
        in_catalogue |= ix.ingredients_of(entry["generic_name"])
    named = {d for key in ix.table().interactions for d in key}
    assert named <= in_catalogue


@pytest.mark.parametrize(
    ("a", "b", "severity"),
    [
        ("warfarin", "aspirin", "severe"),
        ("sildenafil", "nitroglycerin", "severe"),
        ("simvastatin", "clarithromycin", "severe"),
        ("methotrexate", "trimethoprim", "severe"),
        ("lisinopril", "spironolactone", "moderate"),
        ("clopidogrel", "omeprazole", "moderate"),
        ("fluoxetine", "tramadol", "severe"),
        ("linezolid", "sertraline", "severe"),
        ("digoxin", "amiodarone", "severe"),
        ("theophylline", "ciprofloxacin", "severe"),
        ("lithium", "ibuprofen", "severe"),
        ("allopurinol", "azathioprine", "severe"),
        ("levothyroxine", "calcium carbonate", "minor"),
    ],
)
def test_pair_is_found_in_both_orders(a, b, severity):
    forward = ix.check([drug(a), drug(b)], [], [])
    backward = ix.check([drug(b), drug(a)], [], [])

    for findings in (forward, backward):
        assert [(f.kind, f.severity) for f in findings] == [(ix.KIND_INTERACTION, severity)]
        assert set(findings[0].drugs) == {a, b}
        assert findings[0].source


def test_unrelated_medicines_have_no_findings():
    assert ix.check([drug("paracetamol"), drug("cetirizine"), drug("metformin")], [], []) == []


def test_combination_products_are_checked_by_ingredient():
    findings = ix.check([drug("methotrexate"), drug("sulfamethoxazole + trimethoprim")], [], [])

    assert [(f.severity, set(f.drugs)) for f in findings] == [("severe", {"methotrexate", "trimethoprim"})]


def test_aliases_resolve_to_the_generic_name():
    assert ix.ingredients_of("co-trimoxazole") == {"sulfamethoxazole", "trimethoprim"}
    assert ix.ingredients_of("Glyceryl trinitrate") == {"nitroglycerin"}
    assert ix.ingredients_of("lithium carbonate") == {"lithium"}


def test_current_medicines_are_read_from_free_text_by_generic_or_brand():
    assert ix.ingredients_in_text("Ecosprin-75 once daily") == {"aspirin"}
    assert ix.ingredients_in_text("Coumadin 5mg") == {"warfarin"}
    assert ix.ingredients_in_text("GTN spray as needed") == {"nitroglycerin"}
    # Whole words only: the brand "Cipro" is not found inside "ciprofloxacin".
    assert ix.ingredients_in_text("Ciprofloxacin 500") == {"ciprofloxacin"}
    assert ix.ingredients_in_text("vitamin D drops") == set()


def test_prescribed_drug_against_a_current_medicine():
    findings = ix.check([drug("ibuprofen")], [text_drug("Warfarin 5 mg OD")], [])

    assert len(findings) == 1
    assert findings[0].against == ix.AGAINST_CURRENT_MEDICATION
    assert findings[0].other == "Warfarin 5 mg OD"
    assert findings[0].severity == "severe"


def test_same_ingredient_twice_is_duplicate_therapy():
    findings = ix.check([drug("amoxicillin"), drug("amoxicillin + clavulanic acid")], [], [])

    assert [(f.kind, f.severity, f.drugs) for f in findings] == [
        (ix.KIND_DUPLICATE, "moderate", ("amoxicillin",))
    ]


# --- Allergies -----------------------------------------------------------------------------------


def test_penicillin_allergy_blocks_amoxicillin_by_class():
    findings = ix.check([drug("amoxicillin", drug_class="penicillins")], [], [ix.Allergy("Penicillin")])

    assert [(f.kind, f.severity, f.drugs) for f in findings] == [
        (ix.KIND_ALLERGY, "severe", ("penicillins",))
    ]
    assert ix.is_blocking(findings)


def test_allergy_to_one_penicillin_covers_the_class():
    findings = ix.check([drug("flucloxacillin")], [], [ix.Allergy("amoxicillin (rash)")])

    assert [(f.kind, f.severity) for f in findings] == [(ix.KIND_ALLERGY, "severe")]


def test_allergy_to_the_drug_itself():
    findings = ix.check([drug("amoxicillin + clavulanic acid")], [], [ix.Allergy("Augmentin")])

    assert findings[0].kind == ix.KIND_ALLERGY
    assert set(findings[0].drugs) == {"amoxicillin", "clavulanic acid"}


def test_penicillin_allergy_and_a_cephalosporin_is_a_moderate_cross_reactivity_warning():
    findings = ix.check([drug("cefalexin")], [], [ix.Allergy("penicillins")])

    assert [(f.kind, f.severity) for f in findings] == [(ix.KIND_CROSS_REACTIVITY, "moderate")]
    assert "1-2%" in findings[0].effect
    assert not ix.is_blocking(findings)


def test_sulfa_allergy_flags_cotrimoxazole_but_not_furosemide():
    flagged = ix.check([drug("sulfamethoxazole + trimethoprim")], [], [ix.Allergy("Sulfa drugs")])
    clear = ix.check([drug("furosemide", drug_class="loop diuretics")], [], [ix.Allergy("Sulfa drugs")])

    assert [f.kind for f in flagged] == [ix.KIND_ALLERGY]
    assert clear == []


def test_allergy_matches_the_catalogue_drug_class():
    findings = ix.check([drug("naproxen", drug_class="NSAIDs")], [], [ix.Allergy("NSAIDs")])

    assert findings[0].severity == "severe"


def test_findings_are_sorted_most_severe_first():
    findings = ix.check(
        [drug("levothyroxine"), drug("calcium carbonate"), drug("warfarin"), drug("aspirin")], [], []
    )

    assert [f.severity for f in findings] == ["severe", "minor"]
