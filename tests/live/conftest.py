"""Fixtures for tests against real processes: daphne on a loopback port, a Celery worker on Redis,
and a fake SMS provider over HTTP.

Usage (all factories return objects whose processes are stopped at teardown)::

    def test_x(daphne_server): ...                  # daphne with the default env
    def test_y(start_daphne):
        server = start_daphne({"OTP_LENGTH": "8"})  # env overrides; None unsets a variable
        httpx.get(server.url + "/health/")          # server.ws_url for websockets

    @pytest.mark.celery_worker
    def test_z(start_celery_worker, fake_sms_provider):
        worker = start_celery_worker({"SMS_BACKEND": "http", "SMS_HTTP_URL": fake_sms_provider.url})

Database: both kinds of process share the database of the test. On PostgreSQL they use the
pytest-django *test* database (the fixtures pull in ``transactional_db``, so rows committed by
the test are visible to the server and vice versa, and everything is flushed afterwards). On
SQLite (the embedded default, whose test database is in memory) they get their own migrated
database file in ``tmp_path``: rows are then *not* shared with the test process.

Celery in daphne runs eagerly by default (``CELERY_TASK_ALWAYS_EAGER=true``), so a daphne without
a worker still sends its SMS (and logs OTP codes with the console backend) instead of queueing
tasks in Redis that nobody consumes. Pass ``{"CELERY_TASK_ALWAYS_EAGER": None}`` to hand tasks to
a worker from ``start_celery_worker`` instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LIVE_SECRET_KEY = "live-tests-only-secret-key-0f3c9a7e5b1d4c2a8e6f"

EnvOverrides = Mapping[str, str | None]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (``start_daphne`` retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _tail(path: Path, lines: int = 40) -> str:
    text = _read_text(path).rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class _LoggedProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return _read_text(self.log_path)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 5.0) -> re.Match[str]:
        """Poll the log until ``pattern`` matches; fail with the log tail if it never does."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log())
            if match:
                return match
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{regex.pattern!r} did not appear in {self.log_path} within {timeout}s. "
                    f"Log tail:\n{self.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.05)


@dataclass
class LiveServer(_LoggedProcess):
    url: str  # http://127.0.0.1:<port>, no trailing slash
    process: subprocess.Popen
    log_path: Path

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@dataclass
class CeleryWorker(_LoggedProcess):
    hostname: str  # the worker's node name, e.g. live-1a2b3c4d@host
    process: subprocess.Popen
    log_path: Path


def _stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate, then kill if it does not exit in time. Only ever touches this one process."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _build_env(*layers: EnvOverrides) -> dict[str, str]:
    """The parent environment plus fixed live-test values, then ``layers`` in order (None unsets)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="telehealth.settings",
        DEBUG="true",
        SECRET_KEY=LIVE_SECRET_KEY,
        SMS_BACKEND="console",
        LOG_FORMAT="text",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    return env


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops us
        )


# --- Database shared with the subprocesses ----------------------------------------------------------


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, made once per run; each live test gets a copy."""
    path = tmp_path_factory.mktemp("live-db") / "template.sqlite3"
    env = _build_env({"DATABASE_URL": None, "SQLITE_PATH": str(path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"manage.py migrate for the live SQLite database failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    return path


def _url_with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


@pytest.fixture
def live_database_env(transactional_db, request, tmp_path) -> dict[str, str | None]:
    """Environment entries pointing a subprocess at this test's database (see the module docstring).

    ``transactional_db`` must be a static dependency: pytest-django decides at collection time,
    from each test's fixture closure, which databases to create.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        name = connection.settings_dict["NAME"]
        configured = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
        if name == configured:  # never let a server write into the real database
            pytest.fail(f"the pytest-django test database is not set up (still {name!r})", pytrace=False)
        return {"DATABASE_URL": _url_with_database(os.environ["DATABASE_URL"], name), "SQLITE_PATH": None}
    if connection.vendor == "sqlite":
        template = request.getfixturevalue("_migrated_sqlite_template")
        path = tmp_path / "live.sqlite3"
        shutil.copyfile(template, path)
        return {"DATABASE_URL": None, "SQLITE_PATH": str(path)}
    pytest.skip(f"live tests support PostgreSQL and SQLite, not {connection.vendor}")


# --- daphne ---------------------------------------------------------------------------------------------


class _PortTaken(Exception):
    pass


def _wait_until_healthy(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            if "Address already in use" in server.log():
                raise _PortTaken
            pytest.fail(
                f"daphne exited with code {code} before answering {server.url}/health/. "
                f"Log {server.log_path}:\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            response = httpx.get(server.url + "/health/", timeout=1.0)
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        time.sleep(0.1)
    pytest.fail(
        f"daphne did not answer {server.url}/health/ within {timeout}s (last: {last_error}). "
        f"Log {server.log_path}:\n{server.log_tail()}",
        pytrace=False,
    )


@pytest.fixture
def start_daphne(live_database_env, tmp_path, request) -> Iterator[Callable[..., LiveServer]]:
    """``start_daphne(env_overrides=None, *, timeout=20.0) -> LiveServer``; any number per test."""
    started: list[LiveServer] = []

    def start(env_overrides: EnvOverrides | None = None, *, timeout: float = 20.0) -> LiveServer:
        env = _build_env(live_database_env, {"CELERY_TASK_ALWAYS_EAGER": "true"}, env_overrides or {})
        for _attempt in range(3):
            port = free_port()
            log_path = tmp_path / f"daphne-{len(started)}-{port}.log"
            process = _spawn(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "asgi:application"],
                env,
                log_path,
            )
            server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
            started.append(server)
            try:
                _wait_until_healthy(server, timeout)
            except _PortTaken:
                continue
            return server
        pytest.fail("daphne could not bind a free port three times in a row", pytrace=False)

    try:
        yield start
    finally:
        for server in reversed(started):
            _stop(server.process)
        report = getattr(request.node, "report_call", None)  # kept by tests/conftest.py
        if report is not None and report.failed:
            for server in started:  # shown under "Captured stdout teardown"
                print(f"--- {server.log_path} (last 60 lines)\n{server.log_tail(60)}")


@pytest.fixture
def daphne_server(start_daphne) -> LiveServer:
    """One daphne with the default live env."""
    return start_daphne()


# --- Celery worker --------------------------------------------------------------------------------------


@pytest.fixture
def start_celery_worker(request, live_database_env, tmp_path) -> Iterator[Callable[..., CeleryWorker]]:
    """``start_celery_worker(env_overrides=None, *, timeout=30.0) -> CeleryWorker``.

    The worker consumes the ``default`` queue of ``REDIS_URL``, which is purged first so tasks
    left over from an earlier run cannot interfere. The test must be marked ``celery_worker``
    (that keeps its own Celery calls from running eagerly in-process).
    """
    if not os.environ.get("REDIS_URL", "").startswith("redis"):
        pytest.skip("celery_worker: REDIS_URL is not set to a redis URL")
    if "celery_worker" not in request.keywords:
        pytest.fail(
            "tests using a real Celery worker must be marked @pytest.mark.celery_worker", pytrace=False
        )
    from telehealth.celery import app

    app.control.purge()
    started: list[CeleryWorker] = []

    def start(env_overrides: EnvOverrides | None = None, *, timeout: float = 30.0) -> CeleryWorker:
        hostname = f"live-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        env = _build_env(live_database_env, {"CELERY_TASK_ALWAYS_EAGER": None}, env_overrides or {})
        log_path = tmp_path / f"celery-{len(started)}.log"
        process = _spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "telehealth",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-Q",
                "default",
                "-n",
                hostname,
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
            ],
            env,
            log_path,
        )
        worker = CeleryWorker(hostname=hostname, process=process, log_path=log_path)
        started.append(worker)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                pytest.fail(
                    f"celery worker exited with code {code} during start-up. "
                    f"Log {log_path}:\n{worker.log_tail()}",
                    pytrace=False,
                )
            if app.control.ping(destination=[hostname], timeout=1.0):
                return worker
        pytest.fail(
            f"celery worker {hostname} did not answer a ping within {timeout}s. "
            f"Log {log_path}:\n{worker.log_tail()}",
            pytrace=False,
        )

    try:
        yield start
    finally:
        for worker in reversed(started):
            _stop(worker.process)


@pytest.fixture
def celery_worker(start_celery_worker) -> CeleryWorker:
    """One worker with the default live env (console SMS backend)."""
    return start_celery_worker()


# --- Consultation rooms (tests/live/test_rooms_*.py, helpers in tests/live/rooms.py) --------------


@dataclass
class LiveRoom:
    """A consultation starting now, created in the test's database, with access tokens that the
    room servers accept."""

    consultation: object  # clinical.models.Consultation
    patient_token: str
    doctor_token: str

    @property
    def id(self) -> str:
        return str(self.consultation.pk)


@pytest.fixture
def room_server_env() -> dict[str, str]:
    """Environment for daphnes serving consultation rooms to tests.

    Tokens are minted in the test process, so the servers verify them with its signing key. The
    join window is wide around ``ConsultationFactory``'s "starts now", and the heartbeat is short:
    clients ping every 0.5 s and a silent socket (or a dead process's presence) goes after 3 s.
    """
    from django.conf import settings

    return {
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "ROOM_JOIN_EARLY_MINUTES": "15",
        "ROOM_JOIN_LATE_MINUTES": "60",
        "WS_HEARTBEAT_SECONDS": "1",
        "WS_IDLE_TIMEOUT_SECONDS": "3",
        "WS_ALLOW_MISSING_ORIGIN": "true",
    }


@pytest.fixture
def start_room_servers(start_daphne, room_server_env) -> Callable[..., list[LiveServer]]:
    """``start_room_servers(count=1, env_overrides=None) -> [LiveServer, ...]``, started in
    parallel with ``room_server_env`` (plus overrides). Several processes only share rooms through
    Redis: tests starting more than one must be marked ``redis`` (and ``postgres``)."""
    from concurrent.futures import ThreadPoolExecutor

    def start(count: int = 1, env_overrides: EnvOverrides | None = None) -> list[LiveServer]:
        env = {**room_server_env, **(env_overrides or {})}
        if count == 1:
            return [start_daphne(env)]
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(lambda _: start_daphne(env), range(count)))

    return start


@pytest.fixture
def live_room(live_database_env) -> LiveRoom:
    """A video consultation starting now between a fresh patient and doctor (committed, so the
    servers see it on PostgreSQL)."""
    from telehealth.accounts.services import issue_tokens
    from tests.factories import ConsultationFactory

    consultation = ConsultationFactory()
    return LiveRoom(
        consultation=consultation,
        patient_token=issue_tokens(consultation.patient)["access"],
        doctor_token=issue_tokens(consultation.doctor)["access"],
    )
