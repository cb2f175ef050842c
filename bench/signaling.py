"""Benchmark of the consultation-room websockets against a bare ``websockets`` relay.

    .venv/bin/python bench/signaling.py            # full run, about 5 minutes on 2 cores
    .venv/bin/python bench/signaling.py --quick    # smaller numbers, under a minute
    make bench [BENCH_ARGS=--quick]

By itself it: creates and migrates its own PostgreSQL database ``telehealth_bench`` (dropped and
re-created each run; a temporary SQLite file if PostgreSQL is not reachable), creates users and
consultations with the ORM and mints their JWTs, starts daphne on a free loopback port (Redis
DB 9 as channel layer and presence store if Redis is reachable, else in-memory) and the baseline
``bench/bare_relay.py`` (plain ``websockets``, plus a variant that INSERTs chat messages first),
then measures both side by side:

* connect+auth: open the socket until the room is usable (``participants`` / bare ``hello``);
* relay latency patient -> doctor of ice_candidate frames at a fixed rate, one-way, with the send
  time (``time.perf_counter_ns``, same process) embedded in the frame;
* chat throughput (stored + delivered) in one room and in several rooms at once, the sender
  keeping a window of unacknowledged messages; ours with ``SIGNALING_DB_THREADS`` at its default
  and at 1 (= Channels' single shared ``database_sync_to_async`` thread);
* memory per idle authenticated socket (server VmRSS before/after N sockets, divided by N);
* the most concurrent sockets one server process holds (ramp until errors or the cap).

Idle sockets behave like real clients: they send the protocol ``ping`` every
``WS_HEARTBEAT_SECONDS``, or the server would close them after ``WS_IDLE_TIMEOUT_SECONDS``.
Client and servers share the machine, so every figure includes the client's own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
PG_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
BENCH_DB_NAME = "telehealth_bench"
REDIS_BENCH_URL = "redis://127.0.0.1:6379/9"
SECRET_KEY = "bench-only-secret-key-not-for-production-7d1f0c9b2e"  # noqa: S105 - throwaway servers
HEARTBEAT_SECONDS = 15  # the server default; idle clients ping this often
WS_OPTIONS: dict[str, Any] = {
    "compression": None,  # daphne does not negotiate permessage-deflate; keep the baseline equal
    "proxy": None,
    "ping_interval": None,  # the servers ping; the client library answers by itself
    "max_queue": None,  # idle sockets are not read: never pause reading (pongs just queue up)
    "open_timeout": 30,
    "close_timeout": 2,
}
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class Plan:
    connect_samples: int
    relay_frames: int
    relay_rate: int  # frames per second; ours saturates one core at roughly 450/s with Redis
    chat_seconds: float  # each chat test sends for this long, then waits for the deliveries
    chat_rooms: int
    chat_window: int
    idle_sockets: int  # memory is measured here
    cap: int  # the ramp stops here at the latest
    ramp_step: int
    ramp_budget_seconds: float
    ramp_concurrency: int
    idle_cpu_seconds: float


FULL = Plan(
    connect_samples=200,
    relay_frames=5000,
    relay_rate=200,
    chat_seconds=4,
    chat_rooms=8,
    chat_window=16,
    idle_sockets=5000,
    cap=10_000,
    ramp_step=1000,
    ramp_budget_seconds=150,
    ramp_concurrency=32,
    idle_cpu_seconds=15,
)
QUICK = Plan(
    connect_samples=40,
    relay_frames=400,
    relay_rate=200,
    chat_seconds=1.0,
    chat_rooms=4,
    chat_window=16,
    idle_sockets=1000,
    cap=1000,
    ramp_step=1000,
    ramp_budget_seconds=20,
    ramp_concurrency=32,
    idle_cpu_seconds=5.5,
)
# The idle ramp's daphne reuses PostgreSQL connections: by default every connect opens three new
# ones, which halves the connect rate and would not fit 10,000 sockets into the time budget.
# Idle sockets never touch the database, so this does not change memory or CPU per idle socket.
IDLE_SERVER_ENV = {"DATABASE_POOL": "true"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Statistics ------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of unsorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ms_summary(values_ns: list[int], *qs: float) -> dict[str, float]:
    ms = [v / NS_PER_MS for v in values_ns]
    return {f"p{q:g}": round(pct(ms, q), 3) for q in qs} | {"n": len(ms)}


# --- Processes -------------------------------------------------------------------------------------


def cpu_times() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat. Steal is time the hypervisor gave
    our virtual CPUs to someone else: on a shared host it stretches every figure."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, steal = values[3] + values[4], values[7]  # idle + iowait; steal
    return sum(values) - idle - steal, steal, sum(values)


def cpu_busy_percent(seconds: float = 1.0) -> tuple[float, float]:
    """How busy all CPUs are and how much the hypervisor stole, in % over ``seconds``."""
    busy0, steal0, total0 = cpu_times()
    time.sleep(seconds)
    busy1, steal1, total1 = cpu_times()
    total = max(1, total1 - total0)
    return round(100 * (busy1 - busy0) / total, 1), round(100 * (steal1 - steal0) / total, 1)


class ForeignCpu:
    """CPU seconds used by processes that are not this bench, its children, PostgreSQL or Redis:
    other work on a shared machine skews every figure. Sampled from /proc every second by a child
    process (``--sample-foreign-cpu``), so the sampling never stalls the bench's event loop."""

    SERVICES = ("postgres", "redis-server")

    def __init__(self, root: int) -> None:
        self.root = root
        self.tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> dict[int, float]:
        processes: dict[int, tuple[int, str, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            processes[int(entry.name)] = (
                int(fields[1]),
                comm,
                (int(fields[11]) + int(fields[12])) / self.tick,
            )
        ours = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _comm, _cpu) in processes.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    grew = True
        return {
            pid: cpu
            for pid, (_ppid, comm, cpu) in processes.items()
            if pid not in ours and not comm.startswith(self.SERVICES)
        }

    def loop(self, out: Path) -> None:
        total, previous = 0.0, self.sample()
        while os.getppid() == self.root:
            time.sleep(1.0)
            current = self.sample()
            # A process first seen now started within the last second: count all of its time.
            total += sum(cpu - previous.get(pid, 0.0) for pid, cpu in current.items())
            previous = current
            tmp = out.with_suffix(".tmp")
            tmp.write_text(f"{total:.2f}")
            tmp.replace(out)


class PhaseClock:
    """Wall time and foreign CPU (see ``ForeignCpu``) per phase."""

    def __init__(self, workdir: Path) -> None:
        self.out = workdir / "foreign-cpu.txt"
        self.sampler = subprocess.Popen(  # noqa: S603 - this script
            [sys.executable, __file__, "--sample-foreign-cpu", str(self.out)],
            stdin=subprocess.DEVNULL,
        )
        self.phases: dict[str, dict[str, float]] = {}

    def foreign(self) -> float:
        try:
            return float(self.out.read_text())
        except (FileNotFoundError, ValueError):
            return 0.0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, foreign, (_, steal, total) = time.monotonic(), self.foreign(), cpu_times()
        try:
            yield
        finally:
            seconds = time.monotonic() - wall
            other = self.foreign() - foreign
            _, steal_end, total_end = cpu_times()
            self.phases[name] = {
                "seconds": round(seconds, 1),
                "foreign_cpu_seconds": round(other, 1),
                "foreign_percent_of_machine": round(
                    100 * other / max(seconds * (os.cpu_count() or 1), 1e-9), 1
                ),
                "steal_percent": round(100 * (steal_end - steal) / max(1, total_end - total), 1),
            }

    def stop(self) -> None:
        if self.sampler.poll() is None:
            self.sampler.terminate()
            self.sampler.wait(timeout=5)


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    popen: subprocess.Popen
    port: int
    log_path: Path

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def problems(self) -> tuple[int, str | None]:
        """Tracebacks and ERROR lines in the log: how many, and the first one with context."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return 0, None
        hits = [i for i, line in enumerate(lines) if " ERROR " in line or " CRITICAL " in line]
        hits = hits or [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        if not hits:
            return 0, None
        first = hits[0]
        return len(hits), "\n".join(lines[first : first + 25])

    def stop(self, timeout: float = 8.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not exit within {timeout:.0f}s of SIGTERM: killed")
                self.popen.kill()
                self.popen.wait(timeout=5)


STARTED: list[Server] = []


def stop_all() -> None:
    while STARTED:
        server = STARTED.pop()
        with contextlib.suppress(Exception):
            server.stop()


def _spawn(name: str, args: list[str], env: dict[str, str], workdir: Path, port: int) -> Server:
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_nofile,
        )
    server = Server(name, popen, port, log_path)
    STARTED.append(server)
    return server


def start_daphne(name: str, env: dict[str, str], workdir: Path) -> Server:
    import httpx

    for _attempt in range(3):
        port = free_port()
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "asgi:application"]
        server = _spawn(name, args, env, workdir, port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.popen.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/", timeout=1).status_code < 500:
                    return server
            time.sleep(0.1)
        tail = server.log_tail()
        server.stop()
        STARTED.remove(server)
        if "Address already in use" not in tail:
            raise RuntimeError(f"daphne {name} did not start:\n{tail}")
    raise RuntimeError("daphne could not bind a free port three times")


def start_bare(
    name: str, env: dict[str, str], workdir: Path, store: str | None, backlog: int | None = None
) -> Server:
    port = free_port()
    args = [sys.executable, str(BENCH_DIR / "bare_relay.py"), "--port", str(port)]
    if backlog:
        args += ["--backlog", str(backlog)]
    if store:
        args += ["--store", store]
    server = _spawn(name, args, env, workdir, port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise RuntimeError(f"bare relay {name} exited:\n{server.log_tail()}")
        if "listening" in server.log_tail():
            return server
        time.sleep(0.05)
    raise RuntimeError(f"bare relay {name} did not start:\n{server.log_tail()}")


# --- Database, Redis, fixtures --------------------------------------------------------------------


def postgres_database() -> str | None:
    """Drop and re-create the bench database; its URL, or None when PostgreSQL is unreachable."""
    assert BENCH_DB_NAME not in {"test", "test_test", "postgres"}
    try:
        import psycopg

        with psycopg.connect(f"{PG_SERVER_URL}/postgres", connect_timeout=3, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB_NAME}")
    except Exception as exc:
        log(f"PostgreSQL not usable ({type(exc).__name__}: {str(exc).strip()[:120]})")
        return None
    return f"{PG_SERVER_URL}/{BENCH_DB_NAME}"


def drop_postgres_database() -> None:
    import psycopg

    with (
        contextlib.suppress(Exception),
        psycopg.connect(f"{PG_SERVER_URL}/postgres", connect_timeout=3, autocommit=True) as conn,
    ):
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")


def redis_reachable() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_BENCH_URL, socket_connect_timeout=2)
        client.flushdb()  # DB 9 only: the bench's own
        client.close()
    except Exception as exc:
        log(f"Redis not usable ({type(exc).__name__}: {exc})")
        return False
    return True


def flush_bench_redis() -> None:
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(REDIS_BENCH_URL, socket_connect_timeout=2)
        client.flushdb()
        client.close()


def server_env(database_url: str | None, sqlite_path: str | None, redis: bool) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "SQLITE_PATH", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="telehealth.settings",
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="text",
        PYTHONUNBUFFERED="1",
        SMS_BACKEND="console",
        CELERY_TASK_ALWAYS_EAGER="true",
        JWT_ACCESS_LIFETIME_MINUTES="180",
        # The per-socket rate limit protects against abusive clients, not what we measure here.
        WS_RATE_PER_SECOND="100000",
        WS_RATE_BURST="100000",
        WS_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env["SQLITE_PATH"] = sqlite_path or ""
    if redis:
        env["REDIS_URL"] = REDIS_BENCH_URL
    return env


@dataclass(frozen=True)
class Room:
    id: str
    patient_token: str
    doctor_token: str


@dataclass
class Fixtures:
    connect: list[Room]
    relay: Room
    chat: dict[str, list[Room]]  # per daphne configuration: 1 + chat_rooms rooms
    idle: list[Room]


def create_fixtures(env: dict[str, str], plan: Plan, chat_configs: list[str]) -> Fixtures:
    """Users, consultations and tokens, with the ORM in this process (same env as the server)."""
    os.environ.update(env)
    for key in ("DATABASE_URL", "SQLITE_PATH", "REDIS_URL"):
        if key not in env:
            os.environ.pop(key, None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from clinical.models import Consultation, ConsultationState
    from telehealth.accounts.models import User
    from telehealth.accounts.services import issue_tokens

    counts = {
        "connect": (20, ConsultationState.IN_PROGRESS),
        "relay": (1, ConsultationState.SCHEDULED),
        **{f"chat:{c}": (1 + plan.chat_rooms, ConsultationState.SCHEDULED) for c in chat_configs},
        "idle": (math.ceil(plan.cap / 2), ConsultationState.IN_PROGRESS),
    }
    total = sum(n for n, _ in counts.values())
    password = make_password(None)
    now = timezone.now()
    users = []
    for i in range(total):
        users.append(User(phone=f"+1999{2 * i:07d}", role="patient", first_name="Pat", last_name=f"{i}"))
        users.append(User(phone=f"+1999{2 * i + 1:07d}", role="doctor", first_name="Doc", last_name=f"{i}"))
    for user in users:
        user.password = password
    User.objects.bulk_create(users, batch_size=2000)
    consultations = []
    index = 0
    for _group, (n, state) in counts.items():
        for _ in range(n):
            consultations.append(
                Consultation(
                    patient=users[2 * index],
                    doctor=users[2 * index + 1],
                    type="video",
                    state=state,
                    scheduled_start=now - timedelta(minutes=5),
                    duration_minutes=120,
                    started_at=now if state == ConsultationState.IN_PROGRESS else None,
                )
            )
            index += 1
    Consultation.objects.bulk_create(consultations, batch_size=2000)
    with transaction.atomic():
        tokens = [issue_tokens(user)["access"] for user in users]
    rooms = [Room(str(c.pk), tokens[2 * i], tokens[2 * i + 1]) for i, c in enumerate(consultations)]
    groups: dict[str, list[Room]] = {}
    start = 0
    for group, (n, _state) in counts.items():
        groups[group] = rooms[start : start + n]
        start += n
    return Fixtures(
        connect=groups["connect"],
        relay=groups["relay"][0],
        chat={c: groups[f"chat:{c}"] for c in chat_configs},
        idle=groups["idle"],
    )


# --- Client ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One server as the client sees it. ``app`` is ours; otherwise the bare relay."""

    label: str
    server: Server
    app: bool

    @property
    def ready_type(self) -> str:
        return "participants" if self.app else "hello"

    def url(self, room_id: str) -> str:
        return f"{self.server.ws_base}/ws/consultations/{room_id}/"


async def ws_open(target: Target, room_id: str, token: str) -> ClientConnection:
    return await connect(target.url(room_id), subprotocols=["telehealth.v1", f"bearer.{token}"], **WS_OPTIONS)


async def recv_json(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws: ClientConnection, frame_type: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv_json(ws, max(0.001, deadline - time.monotonic()))
        if frame.get("type") == frame_type and all(frame.get(k) == v for k, v in match.items()):
            return frame
        if frame.get("type") == "error":
            raise RuntimeError(f"server error while waiting for {frame_type}: {frame}")


async def drain(ws: ClientConnection, quiet: float = 0.2) -> int:
    count = 0
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(ws.recv(), quiet)
            count += 1
    return count


async def open_pair(target: Target, room: Room) -> tuple[ClientConnection, ClientConnection]:
    """Both participants in the room, talking: for ours the real flow (patient waits, doctor
    admits); the bare relay just says hello."""
    patient = await ws_open(target, room.id, room.patient_token)
    if target.app:
        await until(patient, "waiting")
        doctor = await ws_open(target, room.id, room.doctor_token)
        await until(doctor, "participants")
        await doctor.send(json.dumps({"type": "admit", "id": "admit-1"}))
        await until(doctor, "ack", id="admit-1")
        await until(patient, "admitted")
    else:
        await until(patient, "hello")
        doctor = await ws_open(target, room.id, room.doctor_token)
        await until(doctor, "hello")
    await asyncio.gather(drain(patient), drain(doctor))
    return patient, doctor


async def close_all(sockets: list[ClientConnection]) -> None:
    for ws in sockets:
        if ws.transport is not None:
            ws.transport.abort()


def reader(ws: ClientConnection, on_message: Callable[[str, int], None]) -> asyncio.Task:
    async def run() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                on_message(message, time.perf_counter_ns())

    return asyncio.create_task(run())


async def stop_tasks(*tasks: asyncio.Task) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- Phases ----------------------------------------------------------------------------------------


async def measure_connect(target: Target, rooms: list[Room], samples: int) -> dict[str, Any]:
    """Sequential connects: handshake + auth + room entry until the room is usable."""
    times: list[int] = []
    failures: Counter[str] = Counter()
    warmup = 10
    for i in range(samples + warmup):
        room = rooms[i % len(rooms)]
        token = room.doctor_token if (i // len(rooms)) % 2 else room.patient_token
        start = time.perf_counter_ns()
        try:
            ws = await ws_open(target, room.id, token)
            await until(ws, target.ready_type)
        except Exception as exc:
            failures[type(exc).__name__] += 1
            continue
        elapsed = time.perf_counter_ns() - start
        if i >= warmup:
            times.append(elapsed)
        await ws.close()
        await asyncio.sleep(0.002)
    return ms_summary(times, 50, 99) | {"failures": dict(failures)}


def ice_frame(seq: int, sent_ns: int) -> str:
    # About the size of a real trickled host candidate; the send time rides in the candidate line.
    candidate = (
        f"candidate:{1467250027 + seq} 1 udp 2122260223 192.168.1.23 {40000 + seq % 20000} typ host "
        f"generation 0 ufrag Wz8x network-id 1 network-cost 10 x-bench-ts {sent_ns}"
    )
    return json.dumps(
        {
            "type": "ice_candidate",
            "id": f"i{seq}",
            "candidate": candidate,
            "sdp_mid": "0",
            "sdp_mline_index": 0,
        }
    )


async def measure_relay(target: Target, room: Room, frames: int, rate: int) -> dict[str, Any]:
    patient, doctor = await open_pair(target, room)
    latencies: list[int] = []
    errors: list[str] = []
    done = asyncio.Event()
    expected = 0

    def on_doctor(message: str, now: int) -> None:
        frame = json.loads(message)
        if frame.get("type") == "ice_candidate":
            latencies.append(now - int(frame["candidate"].rsplit(" ", 1)[1]))
            if len(latencies) >= expected:
                done.set()

    def on_patient(message: str, _now: int) -> None:
        if '"error"' in message:
            errors.append(message[:200])

    tasks = [reader(doctor, on_doctor), reader(patient, on_patient)]
    cpu_before = target.server.cpu_seconds()
    wall_start = time.monotonic()
    try:
        for phase, count in (("warmup", min(500, frames // 5)), ("measure", frames)):
            latencies.clear()
            done.clear()
            expected = count
            loop = asyncio.get_running_loop()
            start = loop.time()
            for seq in range(count):
                delay = start + seq / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await patient.send(ice_frame(seq, time.perf_counter_ns()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 15)
            if phase == "warmup":
                cpu_before = target.server.cpu_seconds()
                wall_start = time.monotonic()
        cpu = target.server.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_start
    finally:
        await stop_tasks(*tasks)
        await close_all([patient, doctor])
    result = ms_summary(latencies, 50, 99, 99.9)
    result.update(
        lost=frames - len(latencies),
        errors=len(errors),
        first_error=errors[0] if errors else None,
        server_cpu_us_per_frame=round(cpu / max(1, len(latencies)) * 1e6, 1),
        server_cpu_percent=round(100 * cpu / wall, 1),
    )
    return result


async def chat_in_room(
    patient: ClientConnection, doctor: ClientConnection, seconds: float, window: int, tag: str
) -> dict[str, Any]:
    """Patient sends chat messages for ``seconds``, at most ``window`` unacknowledged; done when
    the doctor has them all."""
    slots = asyncio.Semaphore(window)
    latencies: list[int] = []
    errors: list[str] = []
    finished = asyncio.Event()
    last_delivery = [0]
    total: list[int | None] = [None]  # known once sending stops

    def on_patient(message: str, _now: int) -> None:
        frame = json.loads(message)
        if frame.get("type") == "ack" and frame.get("for") == "chat_message":
            slots.release()
        elif frame.get("type") == "error":
            errors.append(message[:200])
            slots.release()

    def on_doctor(message: str, now: int) -> None:
        frame = json.loads(message)
        if frame.get("type") == "chat_message":
            latencies.append(now - int(frame["text"].split(" sent at ", 1)[1].split(":", 1)[0]))
            last_delivery[0] = now
            if total[0] is not None and len(latencies) >= total[0]:
                finished.set()

    tasks = [reader(patient, on_patient), reader(doctor, on_doctor)]
    start = time.perf_counter_ns()
    deadline = time.monotonic() + seconds
    sent = 0
    try:
        while time.monotonic() < deadline:
            await slots.acquire()
            now = time.perf_counter_ns()
            text = f"Message {sent} sent at {now}: the pain started two days ago."
            await patient.send(json.dumps({"type": "chat_message", "id": f"{tag}-{sent}", "text": text}))
            sent += 1
        total[0] = sent
        if len(latencies) >= sent:
            finished.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), 30)
    finally:
        await stop_tasks(*tasks)
    return {
        "sent": sent,
        "delivered": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "start": start,
        "end": last_delivery[0] or time.perf_counter_ns(),
        "latency": ms_summary(latencies, 50, 99),
    }


async def measure_chat(target: Target, rooms: list[Room], plan: Plan) -> dict[str, Any]:
    pairs = await asyncio.gather(*(open_pair(target, room) for room in rooms))
    try:
        cpu0 = target.server.cpu_seconds()
        one = await chat_in_room(*pairs[0], plan.chat_seconds, plan.chat_window, "single")
        cpu1 = target.server.cpu_seconds()
        many = await asyncio.gather(
            *(
                chat_in_room(p, d, plan.chat_seconds, plan.chat_window, f"multi{i}")
                for i, (p, d) in enumerate(pairs[1:])
            )
        )
        cpu2 = target.server.cpu_seconds()
    finally:
        await close_all([ws for pair in pairs for ws in pair])
    one_seconds = (one["end"] - one["start"]) / 1e9
    many_seconds = (max(r["end"] for r in many) - min(r["start"] for r in many)) / 1e9
    many_delivered = sum(r["delivered"] for r in many)
    return {
        "one_room": {
            "msgs_per_s": round(one["delivered"] / one_seconds, 1),
            "latency": one["latency"],
            "delivered": one["delivered"],
            "sent": one["sent"],
            "errors": one["errors"],
            "first_error": one["first_error"],
            "server_cpu_ms_per_msg": round((cpu1 - cpu0) / max(1, one["delivered"]) * 1000, 2),
        },
        "rooms": len(many),
        "many_rooms": {
            "msgs_per_s": round(many_delivered / many_seconds, 1),
            "per_room_msgs_per_s": round(many_delivered / many_seconds / len(many), 1),
            "latency": ms_summary([], 50),
            "delivered": many_delivered,
            "sent": sum(r["sent"] for r in many),
            "errors": sum(r["errors"] for r in many),
            "first_error": next((r["first_error"] for r in many if r["first_error"]), None),
            "server_cpu_ms_per_msg": round((cpu2 - cpu1) / max(1, many_delivered) * 1000, 2),
        },
    }


class IdleSockets:
    """Many idle sockets that ping every heartbeat, like real clients."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sockets: list[ClientConnection] = []
        self.connect_ns: list[int] = []
        self.errors: Counter[str] = Counter()
        self.heartbeat_task: asyncio.Task | None = None
        self._ping_id = 0

    async def _open(self, room_id: str, token: str) -> None:
        start = time.perf_counter_ns()
        try:
            ws = await ws_open(self.target, room_id, token)
        except Exception as exc:
            self.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        try:
            await until(ws, self.target.ready_type, timeout=30)
        except Exception as exc:
            self.errors[f"no {self.target.ready_type} ({type(exc).__name__}: {str(exc)[:60]})"] += 1
            if ws.transport is not None:
                ws.transport.abort()
            return
        self.connect_ns.append(time.perf_counter_ns() - start)
        self.sockets.append(ws)

    async def grow(self, targets: Iterator[tuple[str, str]], count: int, concurrency: int) -> float:
        """Open ``count`` more sockets, ``concurrency`` at a time; returns sockets per second."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for _ in range(count):
            queue.put_nowait(next(targets))

        async def worker() -> None:
            while not queue.empty():
                await self._open(*queue.get_nowait())

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.monotonic() - start)

    def start_heartbeat(self) -> None:
        async def beat() -> None:
            while True:
                started = time.monotonic()
                snapshot = list(self.sockets)
                per_batch = 50
                pause = HEARTBEAT_SECONDS * 0.85 / max(1, len(snapshot) / per_batch)
                for i in range(0, len(snapshot), per_batch):
                    for ws in snapshot[i : i + per_batch]:
                        if ws.state is State.OPEN:
                            with contextlib.suppress(Exception):
                                await ws.send('{"type":"ping"}')
                    await asyncio.sleep(pause)
                await asyncio.sleep(max(0.5, HEARTBEAT_SECONDS * 0.9 - (time.monotonic() - started)))

        self.heartbeat_task = asyncio.create_task(beat())

    def open_count(self) -> int:
        return sum(ws.state is State.OPEN for ws in self.sockets)

    async def ping_rtt(self, samples: int) -> tuple[list[int], Counter[str]]:
        """Round trips of a protocol ping on random open sockets (queued frames are skipped), and
        what went wrong with the others."""
        open_sockets = [ws for ws in self.sockets if ws.state is State.OPEN]
        failures: Counter[str] = Counter()

        async def one(ws: ClientConnection) -> int | None:
            self._ping_id += 1
            ping_id = f"rtt-{self._ping_id}"
            start = time.perf_counter_ns()
            try:
                await ws.send(json.dumps({"type": "ping", "id": ping_id}))
                while True:
                    frame = await recv_json(ws, 10)
                    if frame.get("id") == ping_id:
                        break
            except TimeoutError:
                failures["no pong within 10 s"] += 1
                return None
            except Exception as exc:  # a closed socket, mostly
                failures[type(exc).__name__] += 1
                return None
            if frame.get("type") != "pong":
                failures[f"{frame.get('type')} {frame.get('code')}"] += 1
                return None
            return time.perf_counter_ns() - start

        chosen = random.sample(open_sockets, min(samples, len(open_sockets)))
        results = await asyncio.gather(*(one(ws) for ws in chosen))
        return [r for r in results if r is not None], failures

    async def close(self) -> None:
        if self.heartbeat_task:
            await stop_tasks(self.heartbeat_task)
        await close_all(self.sockets)
        self.sockets.clear()


class LogWatch:
    """ERROR and WARNING records a server logged since the last look."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.offset = 0
        self.messages: Counter[str] = Counter()

    def new(self) -> int:
        try:
            with open(self.server.log_path, "rb") as log_file:
                log_file.seek(self.offset)
                text = log_file.read().decode(errors="replace")
        except FileNotFoundError:
            return 0
        self.offset += len(text.encode(errors="replace"))
        count = 0
        for line in text.splitlines():
            if " ERROR " in line or " WARNING " in line:
                count += 1
                # "2026-01-01 10:00:00,000 ERROR   [-] logger: message in room <uuid>" -> the message
                message = line.split("] ", 1)[-1]
                self.messages[" ".join(w for w in message.split() if len(w) != 36)[:100]] += 1
            elif line.startswith(("redis.exceptions.", "asyncio.exceptions.TimeoutError")):
                self.messages[line[:100]] += 1
        return count


async def measure_idle(target: Target, rooms: list[Room], plan: Plan) -> dict[str, Any]:
    """Ramp idle sockets up to the cap, then hold; memory per socket at ``plan.idle_sockets``."""

    def endless() -> Iterator[tuple[str, str]]:
        for room in rooms:
            yield room.id, room.patient_token
            yield room.id, room.doctor_token
        raise RuntimeError("not enough rooms for the ramp")

    pool = IdleSockets(target)
    server = target.server
    logs = LogWatch(server)
    # Warm up (imports, caches, connection pools), then the baseline.
    warm_rooms = rooms[-10:]
    warm = IdleSockets(target)
    await warm.grow(iter([(r.id, t) for r in warm_rooms for t in (r.patient_token, r.doctor_token)]), 20, 8)
    await warm.close()
    await asyncio.sleep(2)
    logs.new()
    rss0 = server.rss_kb()
    pool.start_heartbeat()
    targets = endless()
    steps = []
    stop_reason = f"cap of {plan.cap:,} sockets reached"
    checkpoints = sorted({plan.idle_sockets, *range(plan.ramp_step, plan.cap + 1, plan.ramp_step), plan.cap})
    memory = None
    clean_up_to = 0
    first_trouble = None
    started = time.monotonic()
    growing = 0.0
    try:
        for checkpoint in checkpoints:
            if time.monotonic() - started > plan.ramp_budget_seconds:
                stop_reason = f"time budget of {plan.ramp_budget_seconds:.0f}s used up"
                break
            errors_before = sum(pool.errors.values())
            want = checkpoint - len(pool.sockets)
            grow_start = time.monotonic()
            rate = await pool.grow(targets, want, plan.ramp_concurrency)
            growing += time.monotonic() - grow_start
            gc.freeze()  # the client's own sockets: keep its full collections out of the ping times
            await asyncio.sleep(1)  # let the server settle (frames sent after accept, GC)
            step_errors = sum(pool.errors.values()) - errors_before
            rss = server.rss_kb()
            rtt, ping_failures = await pool.ping_rtt(20)
            still_open = pool.open_count()
            server_errors = logs.new()
            step = {
                "sockets": len(pool.sockets),
                "open": still_open,
                "rss_mb": round(rss / 1024, 1),
                "kb_per_socket": round((rss - rss0) / max(1, len(pool.sockets)), 1),
                "connects_per_s": round(rate, 1),
                "connect_ms": ms_summary(pool.connect_ns[-max(1, want) :], 50, 99),
                "ping_rtt_ms": ms_summary(rtt, 50, 99),
                "ping_failures": dict(ping_failures),
                "connect_errors": step_errors,
                "server_log_errors": server_errors,
            }
            steps.append(step)
            log(
                f"  {target.label}: {step['open']:,}/{step['sockets']:,} open, RSS {step['rss_mb']} MB "
                f"({step['kb_per_socket']} KB/socket), {step['connects_per_s']} connects/s, "
                f"ping p50/p99 {step['ping_rtt_ms']['p50']}/{step['ping_rtt_ms']['p99']} ms, "
                f"failed: {step_errors} connects, {sum(ping_failures.values())}/20 pings; "
                f"server log: {server_errors} errors/warnings"
            )
            if checkpoint == plan.idle_sockets:
                memory = step
            trouble = step_errors or ping_failures or server_errors or still_open < len(pool.sockets)
            if not trouble and first_trouble is None:
                clean_up_to = still_open
            elif trouble and first_trouble is None:
                first_trouble = checkpoint
            if step_errors > max(5, want // 100):
                stop_reason = (
                    f"{step_errors} connects failed at {checkpoint:,}: {pool.errors.most_common(1)[0][0]}"
                )
                break
            if sum(ping_failures.values()) >= 2:
                stop_reason = f"pings failing at {checkpoint:,}: {dict(ping_failures)}"
                break
            if still_open < len(pool.sockets) * 0.99:
                stop_reason = f"server closed {len(pool.sockets) - still_open} idle sockets"
                break
            if pct([r / NS_PER_MS for r in rtt], 99) > 2000:
                stop_reason = f"ping round trip p99 over 2 s at {checkpoint:,}"
                break
            if target.server.popen.poll() is not None:
                stop_reason = f"server exited with {target.server.popen.returncode}"
                break
        # Steady state: nobody connects, the sockets only ping.
        cpu0 = server.cpu_seconds()
        hold_start = time.monotonic()
        hold_rtt: list[int] = []
        hold_failures: Counter[str] = Counter()
        while time.monotonic() - hold_start < plan.idle_cpu_seconds:
            rtt, failures = await pool.ping_rtt(10)
            hold_rtt += rtt
            hold_failures += failures
            await asyncio.sleep(0.5)
        idle_cpu = 100 * (server.cpu_seconds() - cpu0) / (time.monotonic() - hold_start)
        open_now = pool.open_count()
        hold = {
            "seconds": round(time.monotonic() - hold_start, 1),
            "open": open_now,
            "closed_by_server": (steps[-1]["open"] if steps else 0) - open_now,
            "cpu_percent": round(idle_cpu, 1),
            "ping_rtt_ms": ms_summary(hold_rtt, 50, 99),
            "ping_failures": dict(hold_failures),
            "server_log_errors": logs.new(),
        }
        log(f"  {target.label} steady state: {hold}")
    finally:
        await pool.close()
    if memory is None and steps:  # stopped before the memory checkpoint: the last step instead
        memory = steps[-1]
    return {
        "rss0_mb": round(rss0 / 1024, 1),
        "memory": memory,
        "steps": steps,
        "max_open": max((s["open"] for s in steps), default=0),
        "clean_up_to": clean_up_to,
        "first_trouble_at": first_trouble,
        "connects_per_s": round(len(pool.connect_ns) / max(growing, 1e-9), 1),
        "stop_reason": stop_reason,
        "connect_errors": dict(pool.errors.most_common(5)),
        "server_log_messages": dict(logs.messages.most_common(6)),
        "hold": hold,
        "idle_cpu_percent": hold["cpu_percent"],
        "idle_cpu_at": hold["open"],
    }


# --- Profiling (optional) --------------------------------------------------------------------------


class Profiler:
    """py-spy on a server process during a phase; off unless ``--profile`` and py-spy exists."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if directory and not Path(self.binary).exists():
            log("py-spy not found (pip install py-spy into .venv): profiling is off")
            self.directory = None
        self.outputs: dict[str, Path] = {}

    @contextlib.contextmanager
    def phase(self, server: Server, name: str, enabled: bool = True) -> Iterator[None]:
        if self.directory is None or not enabled:
            yield
            return
        out = self.directory / f"{name}.txt"
        proc = subprocess.Popen(  # noqa: S603 - py-spy from the virtualenv
            [
                self.binary,
                "record",
                "--pid",
                str(server.popen.pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--full-filenames",
                # Only the thread holding the GIL: CPU spent in Python, not threads waiting on I/O.
                "--gil",
                # Sample without pausing the process: pausing stretched a burst several times over.
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            if proc.poll() is None:
                proc.kill()
            self.outputs[name] = out


IDLE_LEAVES = ("select (selectors.py)", "_worker (concurrent/futures/thread.py)", "wait (threading.py)")


def summarise_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of the busy samples (idle waits left out): inclusive per function of this
    repository, and self time per function of any code."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = 0
    if not path.exists():
        return {"busy_samples": 0, "ours_inclusive": [], "self": []}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first entry names the thread
        if not frames or any(idle in _frame_name(frames[-1]) for idle in IDLE_LEAVES):
            continue
        count = int(count_text)
        busy += count
        for name in {_frame_name(frame) for frame in frames if _is_ours(frame)}:
            inclusive[name] += count
        own[_frame_name(frames[-1])] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * value / max(1, busy), 1)) for name, value in counter.most_common(top)]

    return {"busy_samples": busy, "ours_inclusive": share(inclusive), "self": share(own)}


def _frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file path relative to the venv or repo)"
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def _is_ours(frame: str) -> bool:
    return str(REPO) in frame and "/.venv/" not in frame


# --- Report ----------------------------------------------------------------------------------------


def ratio(ours: float | None, bare: float | None) -> str:
    if ours is None or not bare or math.isnan(bare) or math.isnan(ours):
        return "-"
    return f"{ours / bare:.2f}x"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [title, "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def report(results: dict[str, Any], plan: Plan) -> None:
    rows: list[list[str]] = []

    def row(label: str, ours: float | None, bare: float | None, digits: int = 2, note: str = "") -> None:
        rows.append([label, fmt(ours, digits), fmt(bare, digits) + note, ratio(ours, bare)])

    if conn := results.get("connect"):
        o, b = conn["ours"], conn["bare"]
        row("connect+auth p50 (ms)", o["p50"], b["p50"])
        row("connect+auth p99 (ms)", o["p99"], b["p99"])
    if rel := results.get("relay"):
        o, b = rel["ours"], rel["bare"]
        for q in ("p50", "p99", "p99.9"):
            row(f"relay {q} at {plan.relay_rate}/s (ms)", o[q], b[q], 3)
        row("relay server CPU per frame (us)", o["server_cpu_us_per_frame"], b["server_cpu_us_per_frame"], 0)
    if chats := results.get("chat"):
        threads = results["db_threads_default"]
        labels = {
            "ours": f"ours ({threads} DB thread{'s' if threads != 1 else ''})",
            "ours-1thread": "ours (1 DB thread)",
            "ours-pool": "ours (DATABASE_POOL=true)",
        }
        rooms = chats["ours"]["rooms"]
        for part, where in (("one_room", "1 room"), ("many_rooms", f"{rooms} rooms")):
            base = chats["bare+store"][part]["msgs_per_s"]
            for key, label in labels.items():
                if key in chats:
                    row(
                        f"chat {where}, {label} (msg/s)",
                        chats[key][part]["msgs_per_s"],
                        base,
                        0,
                        " (+INSERT)",
                    )
        row(
            "chat 1 room, relay without storing (msg/s)",
            chats["ours"]["one_room"]["msgs_per_s"],
            chats["bare"]["one_room"]["msgs_per_s"],
            0,
            " (no store)",
        )
        lo, lb = chats["ours"]["one_room"]["latency"], chats["bare+store"]["one_room"]["latency"]
        row("chat delivery p50, 1 room (ms)", lo["p50"], lb["p50"], 1, " (+INSERT)")
        row("chat delivery p99, 1 room (ms)", lo["p99"], lb["p99"], 1, " (+INSERT)")
        row(
            "chat server CPU per message, 1 room (ms)",
            chats["ours"]["one_room"]["server_cpu_ms_per_msg"],
            chats["bare+store"]["one_room"]["server_cpu_ms_per_msg"],
            2,
            " (+INSERT)",
        )
    if idle := results.get("idle"):
        o, b = idle["ours"], idle["bare"]
        oh, bh = o["hold"], b["hold"]
        om, bm = o["memory"] or {}, b["memory"] or {}
        row(
            f"memory per idle socket at {om.get('sockets', 0):,} / {bm.get('sockets', 0):,} sockets (KB)",
            om.get("kb_per_socket"),
            bm.get("kb_per_socket"),
            1,
        )
        row(
            f"concurrent connects per second ({plan.ramp_concurrency} in flight)",
            o["connects_per_s"],
            b["connects_per_s"],
            0,
        )
        rows.append(
            [
                "idle sockets held with no error (largest step)",
                fmt(o["clean_up_to"]),
                fmt(b["clean_up_to"]),
                "-",
            ]
        )
        rows.append(["idle sockets open when the ramp stopped", fmt(o["max_open"]), fmt(b["max_open"]), "-"])
        # Different socket counts: a ratio would compare apples and oranges.
        same = abs(oh["open"] - bh["open"]) <= 0.05 * max(oh["open"], bh["open"], 1)
        hold_ratio = ratio if same else (lambda _ours, _bare: "-")
        label = f"steady state, {oh['seconds']:.0f} s at {oh['open']:,} / {bh['open']:,} sockets"
        for name, ours_value, bare_value in (
            (f"{label}: server CPU (%)", oh["cpu_percent"], bh["cpu_percent"]),
            ("steady state: ping round trip p99 (ms)", oh["ping_rtt_ms"]["p99"], bh["ping_rtt_ms"]["p99"]),
        ):
            rows.append([name, fmt(ours_value, 1), fmt(bare_value, 1), hold_ratio(ours_value, bare_value)])
        rows.append(
            [
                "steady state: sockets closed by the server",
                fmt(oh["closed_by_server"]),
                fmt(bh["closed_by_server"]),
                "-",
            ]
        )
        rows.append(
            [
                "steady state: failed pings / server log errors",
                f"{sum(oh['ping_failures'].values())} / {oh['server_log_errors']}",
                f"{sum(bh['ping_failures'].values())} / {bh['server_log_errors']}",
                "-",
            ]
        )
    print()
    print_table(
        f"Summary ({results['mode']} run, {results['machine']}; ours = daphne + Channels app, "
        "bare = bench/bare_relay.py)",
        ["metric", "ours", "bare", "ratio"],
        rows,
    )
    print()
    if idle:
        for name in ("ours", "bare"):
            r = idle[name]
            print(f"ramp, {name}: stopped as {r['stop_reason']}; no error up to {r['clean_up_to']:,} sockets")
            if r["connect_errors"]:
                print(f"  failed connects: {r['connect_errors']}")
            for message, count in r["server_log_messages"].items():
                print(f"  server log x{count}: {message}")
    if rel:
        o, b = rel["ours"]["p99"], rel["bare"]["p99"]
        verdict = "MET" if o <= 2 * b else "NOT MET"
        print(
            f"goal relay p99 within 2x bare relay: {verdict} ({fmt(o, 3)} vs {fmt(b, 3)} ms = {ratio(o, b)})"
        )
    if idle:
        clean, reached = idle["ours"]["clean_up_to"], idle["ours"]["max_open"]
        if plan.cap < 5000:
            print(f"goal >= 5,000 idle sockets per process: not tested (cap {plan.cap:,}; {clean:,} held)")
        else:
            verdict = "MET" if clean >= 5000 else "NOT MET"
            print(
                f"goal >= 5,000 idle sockets per process: {verdict} "
                f"(held with no error: {clean:,}; open when the ramp stopped: {reached:,})"
            )
    for key, chat in (chats or {}).items():
        for part in ("one_room", "many_rooms"):
            c = chat[part]
            if c["errors"] or c["delivered"] < c["sent"]:
                print(
                    f"  WARNING chat {key} {part}: {c['delivered']}/{c['sent']} delivered, "
                    f"{c['errors']} errors, first: {c['first_error']}"
                )
    for name in ("ours", "bare") if rel else ():
        r = rel[name]
        if r["lost"] or r["errors"]:
            print(
                f"  WARNING relay {name}: {r['lost']} lost, {r['errors']} errors, first: {r['first_error']}"
            )
    noisy = {n: p for n, p in results.get("phases", {}).items() if p["foreign_percent_of_machine"] > 10}
    for name, p in noisy.items():
        print(
            f"WARNING: other processes used {p['foreign_percent_of_machine']}% of the machine during {name} "
            f"({p['foreign_cpu_seconds']} CPU-s in {p['seconds']} s): its figures are skewed"
        )
    stolen = {n: p for n, p in results.get("phases", {}).items() if p.get("steal_percent", 0) > 5}
    for name, p in stolen.items():
        print(
            f"WARNING: the hypervisor took {p['steal_percent']}% of our CPU time (steal) during {name}: "
            "its figures are stretched, and tail latencies most of all"
        )
    if results["machine_busy_before_percent"] > 20:
        print(
            f"WARNING: the machine was busy (CPU {results['machine_busy_before_percent']}% before the start, "
            f"load {results['load_average_before']} -> {results['load_average_after']}): figures are skewed"
        )
    for name, (count, first) in results.get("server_problems", {}).items():
        print(f"  WARNING {name} logged {count} errors/tracebacks; the first:\n{first}")


# --- Main ------------------------------------------------------------------------------------------

PHASES = ("connect", "relay", "chat", "idle")


def log_chat(key: str, result: dict[str, Any]) -> None:
    log(
        f"  {key}: {result['one_room']['msgs_per_s']} msg/s in 1 room, "
        f"{result['many_rooms']['msgs_per_s']} msg/s in {result['rooms']} rooms"
    )


async def run(args: argparse.Namespace, plan: Plan, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "plan": asdict(plan),
    }
    phases = set(args.only)
    clock = PhaseClock(workdir)
    try:
        return await _run(args, plan, workdir, results, phases, clock)
    finally:
        clock.stop()


async def _run(
    args: argparse.Namespace,
    plan: Plan,
    workdir: Path,
    results: dict[str, Any],
    phases: set[str],
    clock: PhaseClock,
) -> dict[str, Any]:
    busy, steal = cpu_busy_percent()
    results["machine_busy_before_percent"] = busy
    results["steal_before_percent"] = steal
    results["load_average_before"] = load_average()
    log(
        f"machine: {results['machine']}; CPU busy before start {busy}%, stolen by the hypervisor "
        f"{steal}%, load {results['load_average_before']}"
    )
    if busy > 20:
        log("WARNING: other processes are using the CPU: every figure below will be skewed")
    if steal > 5:
        log("WARNING: the hypervisor is taking CPU time from this machine: every figure will be stretched")
    nofile = raise_nofile()
    log(f"client RLIMIT_NOFILE {nofile}")

    database_url = None if args.sqlite else postgres_database()
    sqlite_path = None
    if database_url:
        log(f"database: PostgreSQL {PG_SERVER_URL}/{BENCH_DB_NAME} (re-created)")
        store_spec = database_url
    else:
        sqlite_path = str(workdir / "bench.sqlite3")
        log(f"database: SQLite {sqlite_path}")
        store_spec = f"sqlite:///{workdir / 'bare.sqlite3'}"
    redis = False if args.no_redis else redis_reachable()
    log(f"channel layer and presence: {'Redis ' + REDIS_BENCH_URL if redis else 'in memory (no Redis)'}")
    results["database"] = "postgresql" if database_url else "sqlite"
    results["redis"] = redis
    env = server_env(database_url, sqlite_path, redis)
    for extra in args.env:
        key, _, value = extra.partition("=")
        env[key] = value
    results["server_env"] = {k: v for k, v in env.items() if k.startswith(("WS_", "SIGNALING", "DATABASE_"))}
    results["db_threads_default"] = int(env.get("SIGNALING_DB_THREADS") or (8 if database_url else 1))

    started = time.monotonic()
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode:
        raise RuntimeError(f"migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-2000:]}")
    chat_configs = ["ours", "ours-1thread"] + (["ours-pool"] if database_url and not args.quick else [])
    # The ORM refuses to run inside the event loop: do it on a worker thread.
    fixtures = await asyncio.to_thread(create_fixtures, env, plan, chat_configs)
    # Keep the client's own garbage collections short: they would show up as latency.
    gc.collect()
    gc.freeze()
    log(f"migrated, created users, consultations and tokens in {time.monotonic() - started:.1f}s")

    profiler = Profiler(workdir / "profiles" if args.profile else None)
    if profiler.directory:
        profiler.directory.mkdir(parents=True, exist_ok=True)

    bare = start_bare("bare", env, workdir, None)
    plain = Target("bare", bare, False)
    if phases & {"connect", "relay", "chat"}:
        daphne = start_daphne("daphne", env, workdir)
        ours = Target("ours", daphne, True)
        log(f"daphne pid {daphne.popen.pid} port {daphne.port}; bare relay pid {bare.popen.pid}")

    if "connect" in phases:
        log(f"connect+auth: {plan.connect_samples} sequential connects each")
        results["connect"] = {}
        for key, target in (("ours", ours), ("bare", plain)):
            with clock.phase(f"connect {key}"):
                results["connect"][key] = await measure_connect(
                    target, fixtures.connect, plan.connect_samples
                )
            log(f"  {key} {results['connect'][key]}")

    if "relay" in phases:
        log(f"relay latency: {plan.relay_frames} ice_candidate frames at {plan.relay_rate}/s")
        results["relay"] = {}
        for key, target in (("ours", ours), ("bare", plain)):
            with clock.phase(f"relay {key}"), profiler.phase(target.server, f"relay-{key}", key == "ours"):
                results["relay"][key] = await measure_relay(
                    target, fixtures.relay, plan.relay_frames, plan.relay_rate
                )
            log(f"  {key} {results['relay'][key]}")

    if "chat" in phases:
        log(
            f"chat: {plan.chat_seconds}s in 1 room, then {plan.chat_seconds}s in {plan.chat_rooms} rooms "
            f"at once; window of {plan.chat_window} unacknowledged messages"
        )
        chats = results["chat"] = {}
        with clock.phase("chat ours"), profiler.phase(daphne, "chat"):
            chats["ours"] = await measure_chat(ours, fixtures.chat["ours"], plan)
        log_chat("ours", chats["ours"])
    if phases & {"connect", "relay", "chat"}:
        daphne.stop()
    if "chat" in phases:
        bare_store = start_bare("bare-store", env, workdir, store_spec)
        for key, target in (("bare+store", Target("bare+store", bare_store, False)), ("bare", plain)):
            with clock.phase(f"chat {key}"):
                chats[key] = await measure_chat(target, fixtures.chat["ours"], plan)
            log_chat(key, chats[key])
        bare_store.stop()
        variants = (
            [("ours-1thread", {"SIGNALING_DB_THREADS": "1"})] if results["db_threads_default"] > 1 else []
        )
        if "ours-pool" in fixtures.chat:
            variants.append(("ours-pool", {"DATABASE_POOL": "true"}))
        for key, overrides in variants:
            variant = start_daphne(key, env | overrides, workdir)
            with clock.phase(f"chat {key}"):
                chats[key] = await measure_chat(Target(key, variant, True), fixtures.chat[key], plan)
            variant.stop()
            log_chat(key, chats[key])

    if "idle" in phases:
        log(
            f"idle sockets: memory at {plan.idle_sockets:,}, ramp to at most {plan.cap:,} "
            f"({plan.ramp_concurrency} connects in flight, pings every {HEARTBEAT_SECONDS}s)"
        )
        log(f"  idle ramp daphne runs with {IDLE_SERVER_ENV} (see IDLE_SERVER_ENV)")
        results["idle_server_env"] = IDLE_SERVER_ENV
        fresh = start_daphne("daphne-idle", env | IDLE_SERVER_ENV, workdir)
        with clock.phase("idle ours"), profiler.phase(fresh, "idle"):
            idle_ours = await measure_idle(Target("ours", fresh, True), fixtures.idle, plan)
        fresh.stop(timeout=3)  # thousands of sockets: no point waiting for a graceful exit
        with clock.phase("idle bare"):
            idle_bare = await measure_idle(plain, fixtures.idle, plan)
        results["idle"] = {"ours": idle_ours, "bare": idle_bare}
    bare.stop(timeout=3)
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    results["load_average_after"] = load_average()
    results["phases"] = clock.phases
    results["server_problems"] = {s.name: problem for s in STARTED if (problem := s.problems())[0]}

    if profiler.directory:
        results["profiles"] = {}
        for name, path in profiler.outputs.items():
            summary = summarise_profile(path)
            results["profiles"][name] = summary
            print(f"\nProfile of daphne during {name} ({summary['busy_samples']} busy samples, {path}):")
            print("  our code, inclusive share of the busy samples:")
            for fn, share in summary["ours_inclusive"]:
                print(f"    {share:5.1f}%  {fn}")
            print("  self time (any code):")
            for fn, share in summary["self"]:
                print(f"    {share:5.1f}%  {fn}")
    return results


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--sample-foreign-cpu":  # the child of PhaseClock
        with contextlib.suppress(KeyboardInterrupt):
            ForeignCpu(os.getppid()).loop(Path(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description="Benchmark the room websockets against a bare relay.")
    parser.add_argument("--quick", action="store_true", help="smaller numbers, under a minute")
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file, not PostgreSQL")
    parser.add_argument("--no-redis", action="store_true", help="in-memory channel layer even if Redis is up")
    parser.add_argument("--cap", type=int, help="most sockets to open in the ramp")
    parser.add_argument("--idle", type=int, help="sockets at which memory per socket is measured")
    parser.add_argument("--relay-rate", type=int, help="ice_candidate frames per second in the relay test")
    parser.add_argument("--profile", action="store_true", help="py-spy the daphne process (figures skewed)")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the database")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra server env")
    parser.add_argument(
        "--only",
        type=lambda v: v.split(","),
        default=list(PHASES),
        help=f"comma-separated subset of {PHASES}",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.cap or args.idle:
        cap = args.cap or max(plan.cap, args.idle or 0)
        idle = min(args.idle or plan.idle_sockets, cap)
        plan = Plan(**{**asdict(plan), "cap": cap, "idle_sockets": idle})
    if args.relay_rate:
        plan = Plan(**{**asdict(plan), "relay_rate": args.relay_rate})

    workdir = Path(tempfile.mkdtemp(prefix="telehealth-bench-"))
    signal.signal(signal.SIGTERM, _interrupt)
    ok = keep_logs = False
    try:
        results = asyncio.run(run(args, plan, workdir))
        keep_logs = bool(results["server_problems"]) or args.profile
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
            log(f"results written to {args.json}")
        report(results, plan)
        log(f"done in {results['elapsed_seconds']}s")
        ok = True
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        if not ok:
            keep_logs = True
            for server in STARTED:
                if server.popen.poll() not in (None, 0, -signal.SIGTERM):
                    log(
                        f"{server.name} exited with {server.popen.returncode}; log tail:\n{server.log_tail()}"
                    )
        stop_all()
        flush_bench_redis()
        if not args.keep and not args.sqlite:
            drop_postgres_database()
        if args.keep or keep_logs:
            log(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
