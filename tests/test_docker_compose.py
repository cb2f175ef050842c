"""Static checks of docker-compose.yml: it is loaded with PyYAML, never run, so no Docker is needed.

``docker compose config`` would catch syntax errors too; these tests also catch the mistakes it
accepts: a variable the settings never read, a dependency without a healthcheck, a bare ``$``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_env_example import settings_env_variables

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")
# Read by docker/entrypoint.sh, not by settings.py.
ENTRYPOINT_VARIABLES = {"RUN_MIGRATIONS"}


@cache
def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def _service(name: str) -> dict[str, Any]:
    return _compose()["services"][name]


def _environment(name: str) -> dict[str, str]:
    env = _service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _command(name: str) -> list[str]:
    command = _service(name)["command"]
    return command.split() if isinstance(command, str) else list(command)


def _healthcheck_text(name: str) -> str:
    test = _service(name)["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_compose_defines_the_stack():
    assert set(_compose()["services"]) == {*APP_SERVICES, *BACKING_SERVICES}
    assert _service("postgres")["image"].split(":")[1].startswith("16")
    assert _service("redis")["image"].split(":")[1].startswith("7")


def test_app_services_run_the_expected_processes():
    assert _command("web")[:1] == ["daphne"]
    assert _command("web")[-1] == "asgi:application"
    assert _command("worker")[:4] == ["celery", "-A", "telehealth", "worker"]
    assert "default" in _command("worker")  # CELERY_TASK_DEFAULT_QUEUE
    assert _command("beat")[:4] == ["celery", "-A", "telehealth", "beat"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_production_settings(name: str):
    env = _environment(name)
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"] == "postgres://telehealth:telehealth@postgres:5432/telehealth"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["SECURE_SSL_REDIRECT"] == "false"
    assert env["ALLOWED_HOSTS"]
    # Required from the caller, never a value committed here.
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_set_only_variables_the_app_reads(name: str):
    unknown = sorted(set(_environment(name)) - settings_env_variables() - ENTRYPOINT_VARIABLES)
    assert not unknown, f"{name} sets variables nothing reads (typo?): {unknown}"


def test_exactly_one_service_runs_migrations():
    migrating = [name for name in APP_SERVICES if _environment(name).get("RUN_MIGRATIONS") == "true"]
    assert migrating == ["web"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_dependencies(name: str):
    depends_on = _service(name)["depends_on"]
    assert set(BACKING_SERVICES) <= set(depends_on)
    for dependency, spec in depends_on.items():
        assert spec["condition"] == "service_healthy", f"{name} -> {dependency}"
        assert "healthcheck" in _service(dependency), f"{name} waits on {dependency}: no healthcheck"


def test_healthchecks_use_tools_present_in_their_images():
    web = _healthcheck_text("web")
    assert "python" in web
    assert "http://127.0.0.1:8000/health/" in web
    assert "curl" not in web
    assert "wget" not in web  # python:3.11-slim has neither
    assert "celery -A telehealth inspect ping" in _healthcheck_text("worker")
    assert "pg_isready" in _healthcheck_text("postgres")
    assert "redis-cli ping" in _healthcheck_text("redis")


def test_web_healthcheck_host_is_allowed():
    default_hosts = re.search(r"\$\{ALLOWED_HOSTS:-([^}]*)\}", _environment("web")["ALLOWED_HOSTS"])
    hosts = (default_hosts[1] if default_hosts else _environment("web")["ALLOWED_HOSTS"]).split(",")
    assert "127.0.0.1" in hosts


def test_named_volumes_are_declared_and_used():
    declared = set(_compose().get("volumes") or {})
    used = set()
    for service in _compose()["services"].values():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                used.add(source)
    assert used == declared
    assert any(v.endswith("/var/lib/postgresql/data") for v in _service("postgres")["volumes"])
    media_root = _environment("web")["MEDIA_ROOT"]
    for name in ("web", "worker"):
        assert any(v.endswith(f":{media_root}") for v in _service(name)["volumes"]), name


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return []


_INTERPOLATION_RE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?::?[-?+][^}]*)?\}")


def test_every_dollar_is_an_interpolation_or_escaped():
    """Compose substitutes ``$NAME`` in values; a dollar meant for the container's shell is ``$$``."""
    bare = [text for text in _strings(_compose()) if "$" in _INTERPOLATION_RE.sub("", text.replace("$$", ""))]
    assert not bare, f"unescaped $ in docker-compose.yml values: {bare}"
