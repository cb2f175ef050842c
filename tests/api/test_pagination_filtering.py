"""/api/users/ as an admin: pagination, filters, search and ordering."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from tests.api.helpers import error_of, success_data
from tests.factories import UserFactory, phone_number

USERS = "/api/users/"


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def accounts(admin_user):
    """Eight accounts in all (the admin included), joined a day apart, the admin last."""
    now = timezone.now()
    admin_user.date_joined = now
    admin_user.save()
    specs = [
        ("patient", "Quintessa", "+919800004242", True),
        ("patient", "Bartholomew", phone_number(7001), True),
        ("patient", "Cordelia", phone_number(7002), False),
        ("doctor", "Desmond", phone_number(7003), True),
        ("doctor", "Evangeline", phone_number(7004), False),
        ("doctor", "Ferdinand", phone_number(7005), True),
        ("superadmin", "Gwendolyn", phone_number(7006), True),
    ]
    users = [
        UserFactory(
            role=role,
            first_name=name,
            last_name="Testperson",
            phone=phone,
            is_active=active,
            date_joined=now - timedelta(days=len(specs) - i),
        )
        for i, (role, name, phone, active) in enumerate(specs)
    ]
    return [*users, admin_user]


def _page(response) -> dict:
    data = success_data(response)
    assert set(data) == {"count", "page", "page_size", "total_pages", "next", "previous", "results"}
    return data


def _query(url: str | None) -> dict[str, list[str]]:
    assert url is not None
    return parse_qs(urlsplit(url).query)


# --- Pagination ----------------------------------------------------------------------------------


def test_first_page_has_counts_and_next_link(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"page_size": 3}))

    assert data["count"] == 8
    assert data["page"] == 1
    assert data["page_size"] == 3
    assert data["total_pages"] == 3
    assert len(data["results"]) == 3
    assert data["previous"] is None
    assert _query(data["next"]) == {"page": ["2"], "page_size": ["3"]}


def test_middle_page_links_both_ways(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"page_size": 3, "page": 2}))

    assert data["page"] == 2
    assert len(data["results"]) == 3
    assert _query(data["next"]) == {"page": ["3"], "page_size": ["3"]}
    # DRF drops page=1 from the link to the first page.
    assert _query(data["previous"]) == {"page_size": ["3"]}


def test_last_page_is_partial_and_has_no_next(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"page_size": 3, "page": "last"}))

    assert data["page"] == 3
    assert len(data["results"]) == 2
    assert data["next"] is None
    assert _query(data["previous"]) == {"page": ["2"], "page_size": ["3"]}


def test_pages_cover_every_account_once(admin_client, accounts):
    seen = []
    for page in (1, 2, 3):
        seen += [u["id"] for u in _page(admin_client.get(USERS, {"page_size": 3, "page": page}))["results"]]

    assert sorted(seen) == sorted(str(u.pk) for u in accounts)


def test_default_page_size_comes_from_settings(admin_client, accounts, settings):
    data = _page(admin_client.get(USERS))

    assert data["page_size"] == settings.REST_FRAMEWORK["PAGE_SIZE"]
    assert data["count"] == len(data["results"]) == 8


def test_page_size_is_capped_at_api_max_page_size(admin_client, accounts, settings):
    settings.API_MAX_PAGE_SIZE = 4

    data = _page(admin_client.get(USERS, {"page_size": 1000}))

    assert data["page_size"] == 4
    assert len(data["results"]) == 4
    assert data["total_pages"] == 2


def test_empty_result_has_one_page(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"search": "nobody-is-called-this"}))

    assert data["count"] == 0
    assert data["results"] == []
    assert data["total_pages"] == 1
    assert data["next"] is None
    assert data["previous"] is None


@pytest.mark.parametrize("page", ["99", "0", "-1", "abc"])
def test_invalid_page_answers_404_envelope(admin_client, accounts, page):
    response = admin_client.get(USERS, {"page_size": 3, "page": page})

    error = error_of(response, 404, "NOT_FOUND")
    assert error["message"] == "Invalid page."


# --- Filters -------------------------------------------------------------------------------------


def test_filter_by_role(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"role": "doctor"}))

    assert {u["first_name"] for u in data["results"]} == {"Desmond", "Evangeline", "Ferdinand"}
    assert {u["role"] for u in data["results"]} == {"doctor"}
    assert data["count"] == 3


def test_filter_by_inactive(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"is_active": "false"}))

    assert {u["first_name"] for u in data["results"]} == {"Cordelia", "Evangeline"}
    assert all(u["is_active"] is False for u in data["results"])


def test_filters_combine(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"role": "doctor", "is_active": "true"}))

    assert {u["first_name"] for u in data["results"]} == {"Desmond", "Ferdinand"}


def test_filter_by_join_date(admin_client, accounts):
    cutoff = accounts[5].date_joined  # Ferdinand

    data = _page(admin_client.get(USERS, {"joined_after": cutoff.isoformat()}))

    assert {u["first_name"] for u in data["results"]} == {"Ferdinand", "Gwendolyn", "Ada"}


def test_unknown_role_filter_answers_validation_error(admin_client, accounts):
    response = admin_client.get(USERS, {"role": "nurse"})

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert set(error["details"]) == {"role"}


# --- Search --------------------------------------------------------------------------------------


def test_search_by_name_fragment(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"search": "cordel"}))

    assert [u["first_name"] for u in data["results"]] == ["Cordelia"]


def test_search_by_phone_fragment(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"search": "4242"}))

    assert [u["phone"] for u in data["results"]] == ["+919800004242"]


def test_search_combines_with_filter(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"search": "Testperson", "role": "patient"}))

    assert {u["first_name"] for u in data["results"]} == {"Quintessa", "Bartholomew", "Cordelia"}


# --- Ordering ------------------------------------------------------------------------------------


def test_default_ordering_is_newest_first(admin_client, accounts):
    data = _page(admin_client.get(USERS))

    assert [u["id"] for u in data["results"]] == [str(u.pk) for u in reversed(accounts)]


def test_ordering_by_phone(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"ordering": "phone"}))

    phones = [u["phone"] for u in data["results"]]
    assert phones == sorted(phones)
    assert len(phones) == 8


def test_ordering_by_date_joined_descending(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"ordering": "-date_joined"}))

    joined = [u["date_joined"] for u in data["results"]]
    assert joined == sorted(joined, reverse=True)
    assert data["results"][0]["first_name"] == "Ada"


def test_ordering_by_date_joined_ascending(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"ordering": "date_joined"}))

    assert [u["id"] for u in data["results"]] == [str(u.pk) for u in accounts]


def test_ordering_by_field_not_allowed_is_ignored(admin_client, accounts):
    data = _page(admin_client.get(USERS, {"ordering": "password"}))

    assert [u["id"] for u in data["results"]] == [str(u.pk) for u in reversed(accounts)]
