"""The staff dashboard page, ``/dashboard/``: a server-rendered shell whose script
(``static/analytics/dashboard.js``) draws the figures of the ``/api/analytics/`` endpoints.

Authentication: the page belongs to a Django session of a staff user, who logs in through the admin
login (``/admin/login/``). The API only accepts JWT bearer tokens, so the script asks
``/dashboard/token/`` (POST, same session, CSRF-checked) for a short-lived access token and sends it
with every API call. The token never appears in the page's HTML, so a cached or saved page holds no
credential, and the API keeps a single way of authenticating.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from rest_framework_simplejwt.tokens import AccessToken

from analytics.params import DEFAULT_DAYS, profile_zone
from telehealth.accounts.models import User
from telehealth.api import error_codes
from telehealth.api.envelope import error_body, success_body

API_BASE = "/api/analytics/"
# Shorter than a login's access token: the page asks again before it runs out.
TOKEN_LIFETIME = timedelta(minutes=5)


def _is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_admin_role)


def dashboard_access_token(user: User) -> AccessToken:
    """A bearer token for the analytics API, valid for ``TOKEN_LIFETIME``."""
    token = AccessToken.for_user(user)
    token["role"] = user.role
    token.set_exp(lifetime=TOKEN_LIFETIME)
    return token


@never_cache
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not _is_staff(request.user):
        return render(request, "analytics/dashboard_forbidden.html", status=403)
    # The range the API itself defaults to: the last DEFAULT_DAYS days in the admin's time zone.
    zone = profile_zone(request.user)
    today = timezone.localdate(timezone=zone)
    config = {
        "apiBase": API_BASE,
        "tokenUrl": reverse("dashboard-token"),
        "csrfToken": get_token(request),
        "timeZone": zone.key,
        "defaults": {
            "from": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "to": today.isoformat(),
            "granularity": "day",
        },
    }
    return render(request, "analytics/dashboard.html", {"config": config})


@never_cache
@require_POST
def dashboard_token(request: HttpRequest) -> JsonResponse:
    if not _is_staff(request.user):
        return JsonResponse(
            error_body(error_codes.PERMISSION_DENIED, "Log in to /admin/ as an admin first."), status=403
        )
    token = dashboard_access_token(request.user)
    # A duration rather than a time: the browser's clock may be off.
    expires_in = int(TOKEN_LIFETIME.total_seconds())
    return JsonResponse(success_body({"access": str(token), "expires_in": expires_in}))


# Included at /dashboard/ by telehealth.urls.
urlpatterns = [
    path("", dashboard_page, name="dashboard"),
    path("token/", dashboard_token, name="dashboard-token"),
]
