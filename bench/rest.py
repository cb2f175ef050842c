"""Throughput and latency of the consultation list API, against bare Django serving the same rows.

    .venv/bin/python bench/rest.py                 # 3 servers x 3 endpoints, 10 s each; about 3 minutes
    .venv/bin/python bench/rest.py --quick         # 3 s each
    .venv/bin/python bench/rest.py --profile       # then py-spy on daphne under API load, by layer
    make bench-rest [BENCH_ARGS=...]

Set-up as in ``bench/signaling.py`` (whose helpers this reuses), with its own PostgreSQL database
``telehealth_bench_rest`` and Redis DB 11 (cache: throttling). It creates 20 doctors with 25
consultations each (100 patients) and mints the doctors' access tokens. The servers run with
``bench.bench_settings``, i.e. the project's settings and URLs plus the bench-only views of
``bench/bench_urls.py``, so API and baseline are served by the same process:

* ``api``: ``GET /api/consultations/?page_size=20`` as a doctor: JWT authentication, throttling
  (``THROTTLE_GENERAL`` raised to 100000/s: it still reads and writes its Redis key, but never
  refuses), filters, pagination with its COUNT, the serializer, one audit entry per row (the rows
  are the doctor's patients': one bulk INSERT), the envelope renderer, every middleware;
* ``baseline``: the same 20 rows and fields, ``.values()`` into ``JsonResponse``; no authentication;
* ``baseline-auth``: the same, for the token's user, authenticated with the API's JWT class.

The three return the same rows (checked before measuring). Servers, one process each, because the
machine has 2 cores and the client needs one: daphne (ours, ASGI), uvicorn (ASGI, uvloop and
httptools) and gunicorn with one sync worker (WSGI, Django's ``get_wsgi_application``). The client
keeps ``--concurrency`` keep-alive connections (gunicorn's sync worker closes each one; the client
reconnects) for 2 s of warm-up, then ``--seconds`` of measurement, each connection cycling through
the doctors' tokens. Figures: requests/s, p50/p99 latency, the server's CPU per request and RSS.
Default database settings (``DATABASE_CONN_MAX_AGE=0``, no pool: a new PostgreSQL connection per
request); ``--env DATABASE_POOL=true`` shows what pooling changes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import harness

sb = harness.load_signaling_bench("telehealth_bench_rest", redis_db=11)
log = sb.log

DOCTORS = 20
PER_DOCTOR = 25
PATIENTS = 100
PAGE = 20
ENDPOINTS = ("api", "baseline", "baseline-auth")
SERVERS = ("daphne", "uvicorn", "gunicorn")


@dataclass(frozen=True)
class Doctor:
    id: str
    token: str


# --- Fixtures -------------------------------------------------------------------------------------


def create_fixtures(env: dict[str, str]) -> list[Doctor]:
    """Doctors, patients, consultations and the doctors' access tokens, with the ORM."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from clinical.models import Consultation, ConsultationState
    from telehealth.accounts.models import User
    from telehealth.accounts.services import issue_tokens

    password = make_password(None)
    doctors = [
        User(
            phone=f"+1888{i:07d}", role="doctor", first_name="Doc", last_name=f"Number {i}", password=password
        )
        for i in range(DOCTORS)
    ]
    patients = [
        User(
            phone=f"+1777{i:07d}",
            role="patient",
            first_name="Pat",
            last_name=f"Number {i}",
            password=password,
        )
        for i in range(PATIENTS)
    ]
    User.objects.bulk_create(doctors + patients)
    states = [ConsultationState.COMPLETED, ConsultationState.SCHEDULED, ConsultationState.CANCELLED]
    base = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    Consultation.objects.bulk_create(
        Consultation(
            patient=patients[(d * 7 + i) % PATIENTS],
            doctor=doctor,
            type="video",
            state=states[i % len(states)],
            scheduled_start=base + timedelta(hours=i * 9),
            duration_minutes=30,
            fee_amount=50_000,
            fee_currency="INR",
            chief_complaint=f"Persistent cough and mild fever for {i + 2} days, worse at night.",
            symptoms=["cough", "fever"],
        )
        for d, doctor in enumerate(doctors)
        for i in range(PER_DOCTOR)
    )
    with transaction.atomic():
        return [Doctor(str(doctor.pk), issue_tokens(doctor)["access"]) for doctor in doctors]


# --- Client ---------------------------------------------------------------------------------------


class HttpConnection:
    """HTTP/1.1 over one keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await self._exchange(raw)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()  # a keep-alive connection the server had closed: once more on a new one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close, chunked = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_bytes(port: int, endpoint: str, doctor: Doctor) -> bytes:
    auth = f"Authorization: Bearer {doctor.token}\r\n"
    path = {
        "api": f"/api/consultations/?page_size={PAGE}",
        "baseline": f"/bench/baseline/consultations/?doctor={doctor.id}",
        "baseline-auth": "/bench/baseline-auth/consultations/",
    }[endpoint]
    headers = "" if endpoint == "baseline" else auth
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench-rest\r\n"
        f"Accept: application/json\r\n{headers}\r\n"
    ).encode()


def rows_of(endpoint: str, body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body)
    return data["data"]["results"] if endpoint == "api" else data["results"]


async def check_endpoints(port: int, doctors: list[Doctor]) -> dict[str, int]:
    """Every endpoint answers 200 with the same rows, in the same order; their body sizes."""
    sizes: dict[str, int] = {}
    for doctor in doctors[:3]:
        ids = {}
        for endpoint in ENDPOINTS:
            conn = HttpConnection(port)
            status, body = await conn.request(request_bytes(port, endpoint, doctor))
            conn.close()
            if status != 200:
                raise RuntimeError(f"{endpoint} answered {status}: {body[:300]!r}")
            ids[endpoint] = [str(row["id"]) for row in rows_of(endpoint, body)]
            sizes[endpoint] = len(body)
        if len(ids["api"]) != PAGE or len({tuple(v) for v in ids.values()}) != 1:
            raise RuntimeError(f"the endpoints return different rows: {ids}")
    return sizes


async def load(
    port: int, endpoint: str, doctors: list[Doctor], concurrency: int, warmup: float, seconds: float, server
) -> dict[str, Any]:
    requests = [request_bytes(port, endpoint, d) for d in doctors]
    latencies: list[int] = []
    statuses: Counter[str] = Counter()
    measuring = False
    stop = False

    async def worker(index: int) -> None:
        conn = HttpConnection(port)
        i = index
        try:
            while not stop:
                raw = requests[i % len(requests)]
                i += 1
                start = time.perf_counter_ns()
                try:
                    status, _body = await conn.request(raw)
                except Exception as exc:
                    if measuring:
                        statuses[type(exc).__name__] += 1
                    conn.close()
                    continue
                if measuring:
                    latencies.append(time.perf_counter_ns() - start)
                    statuses[str(status)] += 1
        finally:
            conn.close()

    tasks = [asyncio.create_task(worker(i * 7)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    cpu0, rss0 = server.cpu_seconds(), server.rss_kb()
    started = time.monotonic()
    measuring = True
    await asyncio.sleep(seconds)
    measuring = False
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu0
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    done = len(latencies)
    ok = statuses.get("200", 0)
    return {
        "requests_per_s": round(done / elapsed, 1),
        **sb.ms_summary(latencies, 50, 99),
        "errors": done - ok + sum(v for k, v in statuses.items() if not k.isdigit()),
        "statuses": dict(statuses),
        "server_cpu_percent": round(100 * cpu / elapsed, 1),
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, done), 3),
        "rss_mb": round(server.rss_kb() / 1024, 1),
        "rss_start_mb": round(rss0 / 1024, 1),
    }


# --- Servers --------------------------------------------------------------------------------------


def server_argv(kind: str) -> Callable[[int], list[str]]:
    python = sys.executable

    def argv(port: int) -> list[str]:
        if kind == "daphne":
            return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "asgi:application"]
        if kind == "uvicorn":
            return [
                *(python, "-m", "uvicorn", "asgi:application", "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", "1", "--lifespan", "off", "--no-access-log", "--log-level", "warning"),
                *("--loop", "uvloop", "--http", "httptools"),
            ]
        if kind == "gunicorn":
            return [
                *(python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
                *("--worker-class", "sync", "--log-level", "warning", "--timeout", "60"),
                "django.core.wsgi:get_wsgi_application()",
            ]
        raise ValueError(kind)

    return argv


def start(kind: str, env: dict[str, str], workdir: Path):
    server = harness.start_server(sb, kind, server_argv(kind), env, workdir, harness.http_ok("/health/"))
    if kind == "gunicorn":  # the worker serves; the master only watches it
        children = Path(f"/proc/{server.popen.pid}/task/{server.popen.pid}/children").read_text().split()
        server.popen = _Pid(int(children[0]), server.popen)
    return server


class _Pid:
    """A child process standing in for the ``Popen`` it belongs to (for RSS and CPU readings)."""

    def __init__(self, pid: int, parent: subprocess.Popen) -> None:
        self.pid = pid
        self.parent = parent

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parent, name)


# --- Profile ------------------------------------------------------------------------------------

# Inclusive: share of the samples with this function (path, name or Class.name) on the stack.
STEPS = (
    (
        "JWT authentication (decode + user query)",
        "rest_framework_simplejwt/authentication.py",
        "authenticate",
    ),
    ("throttle (Redis cache get + set)", "rest_framework/views.py", "check_throttles"),
    ("filter backends", "rest_framework/generics.py", "filter_queryset"),
    ("pagination: COUNT + page query", "rest_framework/generics.py", "paginate_queryset"),
    ("audit: 20 entries, one INSERT", "telehealth/audit/services.py", "audit_phi_reads"),
    ("serializer .data (20 rows)", "rest_framework/serializers.py", "data"),
    ("envelope renderer (JSON)", "telehealth/api/renderers.py", "render"),
    ("DRF view, all of it", "rest_framework/views.py", "dispatch"),
    ("opening PostgreSQL connections", "django/db/backends/base/base.py", "connect"),
    ("opening Redis connections", "redis/connection.py", "connect"),
    ("closing connections (request_finished)", "django/db/__init__.py", "close_old_connections"),
    ("asgiref thread hops (sync <-> async)", "asgiref/sync.py", "__call__"),
)
# Self time: the innermost frame that belongs to one of these, by path (first match wins).
LAYERS = (
    ("PostgreSQL: psycopg and the wait for the server", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    ("Django DB backend (connect, cursor wrappers)", ("django/db/backends/",)),
    ("ORM: SQL compiler, model instances", ("django/db/models/", "django/db/utils.py")),
    ("DRF serializers and fields", ("rest_framework/serializers.py", "rest_framework/fields.py")),
    ("JWT (simplejwt, PyJWT)", ("rest_framework_simplejwt/", "jwt/")),
    ("audit logging", ("telehealth/audit/",)),
    (
        "JSON rendering, envelope",
        ("rest_framework/renderers.py", "telehealth/api/", "json/", "rest_framework/utils/encoders.py"),
    ),
    ("cache and Redis (throttle)", ("django/core/cache/", "redis/", "rest_framework/throttling.py")),
    ("django-filter", ("django_filters/",)),
    ("middleware", ("django/middleware/", "django_guid/", "corsheaders/", "whitenoise/", "django/contrib/")),
    ("other DRF (views, request, pagination)", ("rest_framework/",)),
    ("our view, selectors, access", ("clinical/",)),
    (
        "Django request handling (handlers, URLs, HttpResponse)",
        ("django/core/handlers/", "django/urls/", "django/http/"),
    ),
    ("asgiref sync/async hops", ("asgiref/",)),
    ("daphne, Twisted (HTTP)", ("daphne/", "twisted/", "autobahn/")),
    ("uvicorn", ("uvicorn/",)),
    ("asyncio, threads", ("asyncio/", "concurrent/", "threading.py")),
    ("logging", ("logging/",)),
    ("other Django", ("django/",)),
)


@contextlib.contextmanager
def profile(pid: int, out: Path):
    """py-spy on ``pid`` (every thread; waits are told apart by ``WAITS`` afterwards)."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [binary, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
    proc = subprocess.Popen(  # noqa: S603 - py-spy from the virtualenv
        [*command, "--full-filenames", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# Innermost frames that are a thread waiting (py-spy cannot always tell): left out of "busy".
WAITS = (
    "Condition.wait (threading.py)",
    "EpollSelector.select (selectors.py)",
    "Connection.wait (psycopg/connection.py)",
    "wait_conn (psycopg/waiting.py)",
    "_HiredisParser.read_from_socket (redis/_parsers/hiredis.py)",
)


def summarise_by_layer(path: Path) -> dict[str, Any]:
    steps: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    busy = waiting = 0
    if not path.exists():
        return {"busy_samples": 0, "steps": [], "layers": []}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [sb._frame_name(f) for f in stack.split(";")[1:]]
        if not frames or any(idle in frames[-1] for idle in sb.IDLE_LEAVES):
            continue
        count = int(count_text)
        if frames[-1] in WAITS:
            waiting += count
            continue
        busy += count
        parsed = {_split(frame) for frame in frames}
        for label, where, name in STEPS:
            if any(p == where and (f == name or f.endswith("." + name)) for f, p in parsed):
                steps[label] += count
        layers[_layer_of(frames)] += count

    def share(counter: Counter[str], order: list[str] | None = None) -> list[tuple[str, float]]:
        keys = order or [k for k, _ in counter.most_common()]
        return [(k, round(100 * counter[k] / max(1, busy), 1)) for k in keys]

    return {
        "busy_samples": busy,
        "waiting_samples": waiting,
        "steps": share(steps, [label for label, _where, _name in STEPS]),
        "layers": share(layers),
    }


def _split(frame: str) -> tuple[str, str]:
    function, _, where = frame.rpartition(" (")
    return function, where.rstrip(")")


def _layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        where = frame.rsplit("(", 1)[-1]
        for label, prefixes in LAYERS:
            if where.startswith(prefixes):
                return label
    return "other"


# --- Main -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    return await harness.run_with_clock(sb, workdir, lambda clock: _run(args, workdir, clock))


async def _run(args: argparse.Namespace, workdir: Path, clock) -> dict[str, Any]:
    results: dict[str, Any] = harness.machine_state(
        sb, log, concurrency=args.concurrency, seconds=args.seconds
    )
    database_url = sb.postgres_database()
    if database_url is None:
        raise RuntimeError("PostgreSQL is needed (BENCH_PG_URL)")
    redis = sb.redis_reachable()
    env = sb.server_env(database_url, None, redis) | {
        "DJANGO_SETTINGS_MODULE": harness.BENCH_SETTINGS,
        "THROTTLE_GENERAL": "100000/s",
    }
    for extra in args.env:
        key, _, value = extra.partition("=")
        env[key] = value
    results["server_env"] = {
        k: v for k, v in env.items() if k.startswith(("DATABASE_", "THROTTLE", "DJANGO_SETTINGS"))
    }
    log(
        f"database {database_url}; Redis {sb.REDIS_BENCH_URL if redis else 'none'}; "
        f"env {results['server_env']}"
    )
    started = time.monotonic()
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=harness.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode:
        raise RuntimeError(f"migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-2000:]}")
    doctors = await asyncio.to_thread(create_fixtures, env)
    gc.collect()
    gc.freeze()
    log(f"migrated; {DOCTORS} doctors x {PER_DOCTOR} consultations in {time.monotonic() - started:.1f}s")

    results["runs"] = {}
    for kind in args.servers:
        server = start(kind, env, workdir)
        results["body_bytes"] = await check_endpoints(server.port, doctors)
        log(f"{kind}: pid {server.popen.pid}, port {server.port}; bodies {results['body_bytes']}")
        for endpoint in args.endpoints:
            with clock.phase(f"{kind} {endpoint}"):
                r = await load(
                    server.port, endpoint, doctors, args.concurrency, args.warmup, args.seconds, server
                )
            results["runs"][f"{kind} {endpoint}"] = r
            log(
                f"  {kind} {endpoint}: {r['requests_per_s']} req/s, p50 {r['p50']} ms, p99 {r['p99']} ms, "
                f"errors {r['errors']} {r['statuses']}, CPU {r['server_cpu_ms_per_request']} ms/req, "
                f"RSS {r['rss_mb']} MB"
            )
        server.stop()
    if args.profile:
        directory = workdir / "profiles"
        directory.mkdir(parents=True, exist_ok=True)
        server = start("daphne", env, workdir)
        results["profile"] = {}
        for endpoint in ("api", "baseline"):
            out = directory / f"daphne-{endpoint}.txt"
            with profile(server.popen.pid, out):
                r = await load(server.port, endpoint, doctors, args.concurrency, 1.0, args.seconds, server)
            summary = summarise_by_layer(out)
            summary["under_profiler"] = r
            summary["path"] = str(out)
            results["profile"][endpoint] = summary
        server.stop()
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    results["load_average_after"] = sb.load_average()
    results["phases"] = clock.phases
    results["server_problems"] = {s.name: problem for s in sb.STARTED if (problem := s.problems())[0]}
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    runs = results["runs"]
    fmt = sb.fmt
    rows = []
    for kind in args.servers:
        for endpoint in args.endpoints:
            r = runs.get(f"{kind} {endpoint}")
            if r is None:
                continue
            base = runs.get(f"{kind} baseline")
            ratio = r["requests_per_s"] / base["requests_per_s"] if base and base["requests_per_s"] else None
            rows.append(
                [
                    kind,
                    endpoint,
                    fmt(r["requests_per_s"], 0),
                    fmt(r["p50"]),
                    fmt(r["p99"]),
                    fmt(r["errors"]),
                    fmt(r["server_cpu_ms_per_request"]),
                    fmt(r["server_cpu_percent"], 0),
                    fmt(r["rss_mb"], 1),
                    f"{ratio:.2f}" if ratio is not None else "-",
                ]
            )
    print()
    sb.print_table(
        f"Consultation list, {PAGE} rows, {results['concurrency']} connections, "
        f"{results['seconds']:g} s per row "
        f"({results['machine']}; bodies {results.get('body_bytes')} bytes)",
        [
            "server",
            "endpoint",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU ms/req",
            "CPU %",
            "RSS MB",
            "vs baseline",
        ],
        rows,
    )
    print()
    for kind in args.servers:
        api, base = runs.get(f"{kind} api"), runs.get(f"{kind} baseline")
        if api and base and base["requests_per_s"]:
            ratio = api["requests_per_s"] / base["requests_per_s"]
            verdict = "MET" if ratio >= 0.5 else "NOT MET"
            print(f"goal {kind}: API at least half the baseline's req/s: {verdict} ({ratio:.2f})")
    if profile := results.get("profile"):
        for endpoint, summary in profile.items():
            r = summary["under_profiler"]
            print(
                f"\nProfile of daphne serving {endpoint} ({summary['busy_samples']} busy samples, "
                f"{summary['waiting_samples']} more waiting for PostgreSQL, Redis or a thread; "
                f"{r['requests_per_s']} req/s under py-spy)"
            )
            if endpoint == "api":
                print("  steps (inclusive share of busy samples):")
                for label, share in summary["steps"]:
                    print(f"    {share:5.1f}%  {label}")
            print("  layers (self time, innermost frame):")
            for label, share in summary["layers"]:
                if share >= 0.5:
                    print(f"    {share:5.1f}%  {label}")
    harness.print_warnings(results)


def main() -> int:
    parser = argparse.ArgumentParser(description="Consultation list API against bare Django, per server.")
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--seconds", type=float, help="measured seconds per server and endpoint (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections")
    parser.add_argument("--servers", type=lambda v: v.split(","), default=list(SERVERS))
    parser.add_argument("--endpoints", type=lambda v: v.split(","), default=list(ENDPOINTS))
    parser.add_argument("--profile", action="store_true", help="then py-spy daphne under load, by layer")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra server env")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    with contextlib.suppress(ImportError):
        import uvloop  # the client shares the machine: keep its own overhead small

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    workdir = Path(tempfile.mkdtemp(prefix="telehealth-rest-"))
    signal.signal(signal.SIGTERM, sb._interrupt)
    ok = False
    try:
        results = asyncio.run(run(args, workdir))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
        report(results, args)
        log(f"done in {results['elapsed_seconds']}s")
        ok = not results["server_problems"]
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        sb.stop_all()
        sb.flush_bench_redis()
        if not args.keep:
            sb.drop_postgres_database()
        if args.keep or not ok or args.profile:
            log(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
