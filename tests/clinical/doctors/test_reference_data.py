"""Specialisations and languages: seeded idempotently, listed publicly."""

from __future__ import annotations

import pytest

from clinical.doctors.reference_data import LANGUAGES, SPECIALISATIONS, ensure_reference_data
from clinical.models import Language, Specialisation
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import ROLES, url

pytestmark = pytest.mark.django_db


def test_seeding_is_idempotent_and_keeps_admin_edits():
    assert ensure_reference_data() == (len(SPECIALISATIONS), len(LANGUAGES))
    Specialisation.objects.filter(slug="ent").update(name="Otorhinolaryngology")
    assert ensure_reference_data() == (0, 0)
    assert Specialisation.objects.get(slug="ent").name == "Otorhinolaryngology"
    assert Language.objects.count() == len(LANGUAGES)


@pytest.mark.parametrize("role", ROLES)
def test_everyone_lists_specialisations_and_languages(role, as_role, reference_data):
    _, client = as_role(role)
    specialisations = success_data(client.get(url("specialisations"), {"page_size": 100}))
    languages = success_data(client.get(url("languages"), {"page_size": 100}))
    assert specialisations["count"] == len(SPECIALISATIONS)
    assert languages["count"] == len(LANGUAGES)
    assert {"code": "hi", "name": "Hindi"} in languages["results"]


def test_specialisations_search_and_filter(api_client, reference_data):
    found = success_data(api_client.get(url("specialisations"), {"search": "cardio"}))
    assert [s["slug"] for s in found["results"]] == ["cardiology"]
    exact = success_data(api_client.get(url("languages"), {"code": "ta"}))
    assert [lang["name"] for lang in exact["results"]] == ["Tamil"]


def test_reference_lists_are_read_only(client_for, admin_user, reference_data):
    error_of(
        client_for(admin_user).post(url("specialisations"), {"name": "X", "slug": "x"}),
        405,
        "METHOD_NOT_ALLOWED",
    )


def test_reference_list_runs_a_constant_number_of_queries(
    api_client, reference_data, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        success_data(api_client.get(url("specialisations"), {"page_size": 100}))
