"""The settings module under different environments, loaded fresh each time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent
_VARS = [
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "SMS_BACKEND",
    "SMS_HTTP_URL",
    "LOG_FORMAT",
    "THROTTLE_AUTH",
    "SECURE_SSL_REDIRECT",
    "JWT_ACCESS_LIFETIME_MINUTES",
    "OTP_LENGTH",
    "CORS_ALLOWED_ORIGINS",
    "LOG_LEVEL",
    "PHONE_DEFAULT_REGION",
]
PROD_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3Jx9-very-long-random-production-secret-value-0123456789-abcdefghij",
    "ALLOWED_HOSTS": "api.example.com",
}


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("settings_under_test", ROOT / "telehealth" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_environment_means_embedded_services(monkeypatch):
    s = load_settings(monkeypatch)
    assert s.DEBUG is True
    assert s.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert s.CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert s.CELERY_TASK_ALWAYS_EAGER is True
    assert s.SMS_BACKEND.endswith("ConsoleSMSBackend")


def test_database_url_switches_to_postgres(monkeypatch):
    s = load_settings(monkeypatch, DATABASE_URL="postgres://app:pw@db.internal:5433/telehealth")
    db = s.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.internal", 5433, "telehealth", "app")


def test_database_pool_uses_the_sweeping_backend(monkeypatch):
    s = load_settings(
        monkeypatch, DATABASE_URL="postgres://app:pw@db.internal:5433/telehealth", DATABASE_POOL="true"
    )
    db = s.DATABASES["default"]
    assert db["ENGINE"] == "telehealth.postgres"
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 20}


def test_redis_url_switches_cache_channels_and_celery(monkeypatch):
    url = "redis://cache.internal:6379/2"
    s = load_settings(monkeypatch, REDIS_URL=url)
    assert s.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert s.CACHES["default"]["LOCATION"] == url
    assert s.CHANNEL_LAYERS["default"]["BACKEND"] == "signaling.layers.LocalFirstRedisChannelLayer"
    assert s.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] == url
    assert s.CELERY_BROKER_URL == url
    assert s.CELERY_RESULT_BACKEND == url
    assert s.CELERY_TASK_ALWAYS_EAGER is False


def test_debug_off_refuses_the_default_secret_key(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(monkeypatch, DEBUG="false", ALLOWED_HOSTS="api.example.com")


def test_debug_off_needs_allowed_hosts(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        load_settings(monkeypatch, DEBUG="false", SECRET_KEY=PROD_ENV["SECRET_KEY"])


def test_production_hardening_is_on_when_debug_is_off(monkeypatch):
    s = load_settings(monkeypatch, **PROD_ENV)
    assert s.SESSION_COOKIE_SECURE
    assert s.CSRF_COOKIE_SECURE
    assert s.SECURE_SSL_REDIRECT is True
    assert s.SECURE_HSTS_SECONDS >= 31_536_000
    assert s.X_FRAME_OPTIONS == "DENY"
    assert s.LOG_FORMAT == "json"


def test_ssl_redirect_can_be_switched_off(monkeypatch):
    s = load_settings(monkeypatch, **PROD_ENV, SECURE_SSL_REDIRECT="false")
    assert s.SECURE_SSL_REDIRECT is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("OTP_LENGTH", "six"),
        ("OTP_LENGTH", "2"),
        ("THROTTLE_AUTH", "lots"),
        ("SMS_BACKEND", "pigeon"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_bad_values_fail_at_start_up(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})


def test_http_sms_backend_needs_a_url(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="SMS_HTTP_URL"):
        load_settings(monkeypatch, SMS_BACKEND="http")
    s = load_settings(monkeypatch, SMS_BACKEND="http", SMS_HTTP_URL="http://127.0.0.1:9/sms")
    assert s.SMS_BACKEND.endswith("HTTPSMSBackend")


def test_lifetimes_throttles_and_cors_come_from_env(monkeypatch):
    s = load_settings(
        monkeypatch,
        JWT_ACCESS_LIFETIME_MINUTES="5",
        THROTTLE_AUTH="3/10m",
        OTP_LENGTH="8",
        CORS_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com",
    )
    assert s.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() == 300
    assert s.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"] == "3/10m"
    assert s.OTP_LENGTH == 8
    assert s.CORS_ALLOWED_ORIGINS == ["https://app.example.com", "https://admin.example.com"]


def test_check_deploy_passes_with_a_production_environment():
    env = {k: v for k, v in os.environ.items() if k not in _VARS}
    env.update(PROD_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_zero_length_throttle_window_is_refused(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_AUTH"):
        load_settings(monkeypatch, THROTTLE_AUTH="5/0m")


def test_log_level_is_case_insensitive(monkeypatch):
    assert load_settings(monkeypatch, LOG_LEVEL="info").LOG_LEVEL == "INFO"


def test_unknown_phone_region_is_refused(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="PHONE_DEFAULT_REGION"):
        load_settings(monkeypatch, PHONE_DEFAULT_REGION="XX")


def test_production_serves_hashed_compressed_static_files(monkeypatch):
    s = load_settings(monkeypatch, **PROD_ENV)
    assert s.STORAGES["staticfiles"]["BACKEND"].endswith("CompressedManifestStaticFilesStorage")


def test_channel_layer_waits_longer_than_its_blocking_reads(monkeypatch):
    # channels-redis blocks 5 s per read; a 5 s socket timeout would drop quiet sockets.
    s = load_settings(monkeypatch, REDIS_URL="redis://cache.internal:6379/2")
    [host] = s.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["address"] == "redis://cache.internal:6379/2"
    assert host["socket_timeout"] > 5
