"""The staff dashboard page (/dashboard/): who may open it, the token it hands its script, and the
real page in headless Chromium drawing the real /api/analytics/ answers of a live daphne."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken

from telehealth.accounts.services import user_for_access_token
from tests.analytics.browser import (
    admin_session,
    artifacts_dir,
    console_entries,
    headless_chromium,
    save_full_page_screenshot,
    seed_in_subprocess,
    use_session,
)

# The live server fixtures (tests/live/conftest.py) are reused here, not copied.
from tests.live.conftest import (  # noqa: F401
    _build_env,
    _migrated_sqlite_template,
    live_database_env,
    start_daphne,
)

PAGE = "/dashboard/"
TOKEN_URL = "/dashboard/token/"
ENDPOINTS = ["dashboard/", "user-growth/", "revenue/", "consultations/", "geography/"]
PANELS = ["overview", "growth", "revenue", "consultations", "geography"]


# --- Who gets the page and its token -----------------------------------------------------------------


def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={PAGE}"


def test_patient_session_is_refused(client, patient):
    client.force_login(patient)

    response = client.get(PAGE)

    assert response.status_code == 403
    assert "Staff only" in response.content.decode()


def test_admin_gets_the_page_with_config_and_no_token(client, admin_user):
    admin_user.timezone = "Asia/Kolkata"
    admin_user.save()
    client.force_login(admin_user)

    response = client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    config = json.loads(
        re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>', html)[1]
    )
    assert config == response.context["config"]
    assert config["apiBase"] == "/api/analytics/"
    assert config["tokenUrl"] == TOKEN_URL
    assert config["timeZone"] == "Asia/Kolkata"
    assert config["defaults"]["granularity"] == "day"
    assert not re.search(r"eyJ[\w-]+\.eyJ", html)  # no JWT in the markup: the script asks for one
    # Strict-CSP friendly: every executable script is a static file.
    assert html.count("<script") == 3
    assert html.count("<script src=") == 2


def test_superadmin_gets_the_page(client, superadmin):
    client.force_login(superadmin)

    assert client.get(PAGE).status_code == 200


def test_token_endpoint_mints_a_short_lived_token_for_the_admin(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    csrf = client.get(PAGE).context["config"]["csrfToken"]

    response = client.post(TOKEN_URL, HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    token = AccessToken(data["access"])
    assert token["exp"] - token["iat"] == data["expires_in"] == 300
    assert token["role"] == "admin"
    assert user_for_access_token(data["access"]) == admin_user
    assert "no-store" in response["Cache-Control"]


def test_token_endpoint_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(TOKEN_URL)

    assert response.status_code == 403
    assert "access" not in response.content.decode()


@pytest.mark.parametrize("who", ["anonymous", "patient", "doctor"])
def test_token_endpoint_refuses_non_staff(client, request, who):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))

    response = client.post(TOKEN_URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_token_endpoint_is_post_only(client, admin_user):
    client.force_login(admin_user)

    assert client.get(TOKEN_URL).status_code == 405


# --- The page in Chromium ----------------------------------------------------------------------------------

READY_TIMEOUT = 20

# Read the page's state in one round trip: charts (through Chart.js's own registry), the heatmap,
# the table, the cards and the panels' errors.
PAGE_STATE_JS = """
const chartState = (id) => {
  const canvas = document.getElementById(id);
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted += 1; }
  return {
    labels: chart ? chart.data.labels : null,
    datasets: chart ? chart.data.datasets.map((d) => ({label: d.label, data: d.data})) : null,
    painted,
    size: [canvas.width, canvas.height],
  };
};
return {
  title: document.title,
  state: document.body.dataset.state,
  loads: Number(document.body.dataset.loads || 0),
  errors: Object.fromEntries([...document.querySelectorAll(".panel-error")]
    .map((e) => [e.dataset.errorFor, e.hidden ? null : e.textContent])),
  growth: chartState("growth-chart"),
  revenue: chartState("revenue-chart"),
  currencies: [...document.getElementById("revenue-currency").options].map((o) => o.value),
  heatmap: [...document.querySelectorAll("#heatmap .hm-cell")]
    .map((c) => [Number(c.dataset.weekday), Number(c.dataset.hour), Number(c.dataset.count)]),
  geography: [...document.querySelectorAll("#geography-table tbody tr")]
    .map((r) => JSON.parse(r.dataset.row)),
  cards: Object.fromEntries([...document.querySelectorAll("#cards [data-card]")]
    .map((c) => [c.dataset.card, JSON.parse(c.querySelector("dd").dataset.value)])),
};
"""


def wait_for_round(driver, rounds: int) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        state = driver.execute_script(PAGE_STATE_JS)
        if state["state"] == "ready" and state["loads"] >= rounds:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"the dashboard did not finish loading round {rounds}: {state}", pytrace=False)
        time.sleep(0.1)


def severe(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry["level"] == "SEVERE"]


def fetch_api(server, token: str, endpoint: str, **params) -> dict[str, Any]:
    """What the API answers the test itself: the page must show exactly this."""
    response = httpx.get(
        f"{server.url}/api/analytics/{endpoint}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 200:
        pytest.fail(
            f"GET /api/analytics/{endpoint} answered {response.status_code}: {response.text[:500]}. "
            "The browser test runs against the real analytics endpoints only.",
            pytrace=False,
        )
    return response.json()["data"]


def in_major_units(series: list[dict[str, Any]], field: str) -> list[float]:
    return [row[field] / 100 for row in series]  # INR and USD: 2 decimals


def assert_growth_matches(state: dict[str, Any], growth: dict[str, Any]) -> None:
    assert state["growth"]["labels"] == [row["period"] for row in growth["series"]]
    by_label = {dataset["label"]: dataset["data"] for dataset in state["growth"]["datasets"]}
    roles = {"Patients": "patient", "Doctors": "doctor", "Admins": "admin", "Super admins": "superadmin"}
    assert by_label == {
        label: [row["signups"][role] for row in growth["series"]] for label, role in roles.items()
    }


def assert_revenue_matches(state: dict[str, Any], entry: dict[str, Any]) -> None:
    code = entry["currency"]
    assert state["revenue"]["labels"] == [row["period"] for row in entry["series"]]
    assert state["revenue"]["datasets"] == [
        {"label": f"Gross ({code})", "data": in_major_units(entry["series"], "gross")},
        {"label": f"Refunds ({code})", "data": in_major_units(entry["series"], "refunds")},
        {"label": f"Net ({code})", "data": in_major_units(entry["series"], "net")},
    ]


@pytest.fixture
def driver(tmp_path):
    """Headless Chromium; fails (never skips) with the install command when it is missing."""
    with headless_chromium(tmp_path) as driver:
        yield driver


@pytest.mark.live_server
def test_dashboard_draws_the_analytics_api_in_chromium(driver, live_database_env, start_daphne):  # noqa: F811
    started = time.monotonic()
    seeded = seed_in_subprocess(_build_env(live_database_env))
    server = start_daphne()
    token = seeded["staff_access_token"]
    api = {endpoint: fetch_api(server, token, endpoint) for endpoint in ENDPOINTS}
    api["geography/"] = fetch_api(server, token, "geography/", level="city")
    window = api["user-growth/"]["window"]
    assert window["time_zone"] == seeded["time_zone"]
    artifacts = artifacts_dir()

    use_session(
        driver, server.url, admin_session(server.url, seeded["staff_phone"], seeded["staff_password"])
    )
    driver.get(server.url + PAGE)
    state = wait_for_round(driver, 1)
    assert driver.current_url == server.url + PAGE

    screenshot = save_full_page_screenshot(driver, artifacts / "dashboard.png")
    print(f"dashboard screenshot: {screenshot}")
    assert severe(console_entries(driver)) == []
    assert state["title"] == "Dashboard · Telehealth"
    assert state["errors"] == dict.fromkeys(PANELS)

    # Cards: the dashboard endpoint's figures.
    overview = api["dashboard/"]
    assert state["cards"]["patients"] == overview["users_by_role"]["patient"] == seeded["patients"]
    assert state["cards"]["pending_doctor_verifications"] == seeded["pending_doctor_verifications"]
    assert state["cards"]["consultations_today"] == overview["consultations_today"]
    assert state["cards"]["revenue_month_to_date"] == overview["revenue_month_to_date"]

    # Growth: one line per role, the sign-ups of each period, drawn.
    assert state["growth"]["labels"][0] == window["from"]
    assert_growth_matches(state, api["user-growth/"])
    assert sum(sum(dataset["data"]) for dataset in state["growth"]["datasets"]) > 0
    assert state["growth"]["painted"] > 2000, state["growth"]

    # Revenue: one currency at a time, never added together; INR first, USD on demand.
    revenue = {entry["currency"]: entry for entry in api["revenue/"]["currencies"]}
    assert state["currencies"] == list(revenue) == seeded["currencies"]
    assert_revenue_matches(state, revenue["INR"])
    assert revenue["INR"]["totals"]["refunds"] > 0
    assert state["revenue"]["painted"] > 2000, state["revenue"]
    driver.execute_script(
        "const s = document.getElementById('revenue-currency'); s.value = 'USD';"
        "s.dispatchEvent(new Event('change'));"
    )
    assert_revenue_matches(driver.execute_script(PAGE_STATE_JS), revenue["USD"])

    # Heatmap: every cell of the API, in local time, only where consultations were seeded.
    cells = {(weekday, hour): count for weekday, hour, count in state["heatmap"]}
    assert len(cells) == 7 * 24
    assert cells == {(c["weekday"], c["hour"]): c["count"] for c in api["consultations/"]["heatmap"]}
    busy = {slot for slot, count in cells.items() if count}
    assert busy
    assert busy <= {tuple(slot) for slot in seeded["heatmap_slots"]}
    assert sum(cells.values()) == api["consultations/"]["total"] == seeded["consultations"]

    # Geography: one row per seeded city, as the API ranks them.
    assert state["geography"] == api["geography/"]["rows"]
    places = sorted([row["country"], row["state"], row["city"]] for row in state["geography"])
    assert places == seeded["cities"]

    # Re-fetching: weekly periods for the same days.
    driver.find_element("css selector", "#range select[name=granularity] option[value=week]").click()
    driver.find_element("css selector", "#range button[type=submit]").click()
    state = wait_for_round(driver, 2)
    weekly_range = {"from": window["from"], "to": window["to"], "granularity": "week"}
    weekly = fetch_api(server, token, "user-growth/", **weekly_range)
    assert "granularity=week" in driver.current_url
    assert_growth_matches(state, weekly)
    assert len(state["growth"]["labels"]) < len(api["user-growth/"]["series"])
    assert severe(console_entries(driver)) == []

    # An API error shows in the panels it concerns, in words; the rest of the page stays.
    driver.execute_script(
        "const f = document.getElementById('range'); f.elements.from.value = f.elements.to.value;"
        "f.elements.to.value = '2001-01-01'; f.requestSubmit();"
    )
    state = wait_for_round(driver, 3)
    for panel in ("growth", "revenue", "consultations", "geography"):
        assert "VALIDATION_ERROR" in (state["errors"][panel] or ""), state["errors"]
    assert state["errors"]["overview"] is None
    # The browser reports the 400 answers themselves; nothing else may reach the console.
    others = [e for e in severe(console_entries(driver)) if "status of 400" not in e["message"]]
    assert others == []
    save_full_page_screenshot(driver, artifacts / "dashboard-error.png")

    elapsed = time.monotonic() - started
    print(f"dashboard browser test: {elapsed:.1f}s")
    assert elapsed < 60
