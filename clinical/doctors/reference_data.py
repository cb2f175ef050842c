"""The specialisations and languages doctors pick from. ``ensure_reference_data()`` is idempotent:
it adds what is missing and never renames or deletes what an admin changed."""

from __future__ import annotations

from django.db import transaction

from clinical.models import Language, Specialisation

SPECIALISATIONS: list[tuple[str, str]] = [
    ("general-medicine", "General medicine"),
    ("family-medicine", "Family medicine"),
    ("internal-medicine", "Internal medicine"),
    ("paediatrics", "Paediatrics"),
    ("obstetrics-gynaecology", "Obstetrics and gynaecology"),
    ("cardiology", "Cardiology"),
    ("dermatology", "Dermatology"),
    ("endocrinology", "Endocrinology"),
    ("gastroenterology", "Gastroenterology"),
    ("neurology", "Neurology"),
    ("nephrology", "Nephrology"),
    ("pulmonology", "Pulmonology"),
    ("oncology", "Oncology"),
    ("orthopaedics", "Orthopaedics"),
    ("ophthalmology", "Ophthalmology"),
    ("ent", "Ear, nose and throat"),
    ("psychiatry", "Psychiatry"),
    ("psychology", "Clinical psychology"),
    ("urology", "Urology"),
    ("rheumatology", "Rheumatology"),
    ("general-surgery", "General surgery"),
    ("dentistry", "Dentistry"),
    ("physiotherapy", "Physiotherapy"),
    ("nutrition-dietetics", "Nutrition and dietetics"),
    ("sexology", "Sexual health"),
    ("infectious-diseases", "Infectious diseases"),
]

# ISO 639-1 codes.
LANGUAGES: list[tuple[str, str]] = [
    ("en", "English"),
    ("hi", "Hindi"),
    ("bn", "Bengali"),
    ("te", "Telugu"),
    ("mr", "Marathi"),
    ("ta", "Tamil"),
    ("ur", "Urdu"),
    ("gu", "Gujarati"),
    ("kn", "Kannada"),
    ("ml", "Malayalam"),
    ("or", "Odia"),
    ("pa", "Punjabi"),
    ("as", "Assamese"),
    ("ar", "Arabic"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("de", "German"),
    ("zh", "Chinese"),
]


def ensure_reference_data() -> tuple[int, int]:
    """Create the missing specialisations and languages. Returns how many of each were created."""
    created_specialisations = created_languages = 0
    with transaction.atomic():
        for slug, name in SPECIALISATIONS:
            _, created = Specialisation.objects.get_or_create(slug=slug, defaults={"name": name})
            created_specialisations += created
        for code, name in LANGUAGES:
            _, created = Language.objects.get_or_create(code=code, defaults={"name": name})
            created_languages += created
    return created_specialisations, created_languages
