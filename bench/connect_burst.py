"""Burst of authenticated room connects: N sockets connecting at the same moment.

    .venv/bin/python bench/connect_burst.py                 # 1,000 sockets, 2 bursts; about 2 minutes
    .venv/bin/python bench/connect_burst.py --quick         # 200 sockets, 1 burst
    .venv/bin/python bench/connect_burst.py --processes 2   # two daphne processes, sockets dealt in turn
    .venv/bin/python bench/connect_burst.py --socket notifications   # apps' notification sockets
    .venv/bin/python bench/connect_burst.py --servers ours,daphne,bare  # with daphne's own floor
    make bench-burst [BENCH_ARGS=...]

The aim (issue "Load"): 1,000 concurrent websocket connects with auth, p99 handshake under 1 s,
zero errors, and memory back near its baseline once they have disconnected.

Set-up as in ``bench/signaling.py`` (whose helpers this reuses), with its own PostgreSQL database
``telehealth_bench_burst`` and Redis DB 10. The sockets are both participants of N/2 in-progress
consultations (rooms of 2), fresh rooms for every burst; all N are started with one
``asyncio.gather``. Per socket it times, from the TCP connect:

* ``open``: the websocket handshake is complete (HTTP 101);
* ``first``: the first frame arrived (``room_state``; ``hello`` for the bare relay);
* ``ready``: the room is usable (``participants``; ``hello``) -- the handshake figure of the aim.

Memory is the server's VmRSS: before the burst (after a warm-up burst of 20 sockets and a full
garbage collection), its peak (sampled every 50 ms), and after every socket has closed: when the
last presence entry is gone (the server has run every disconnect), 5 s later, and after a full
garbage collection (``bench/gc/``, a bench-only URL). The criterion: RSS after the settle and the
collection at most ``max(20 MB, 10%)`` above the RSS before the burst. ``malloc_trim`` is reported
on the side, to tell memory still held by Python from memory the C allocator has not given back.

Two baselines get the same bursts (``--servers ours,daphne,bare``; neither has a garbage-collection
URL): ``daphne``, daphne serving ``bench/daphne_floor.py`` (accept and hello, nothing else: daphne's
own cost per handshake), and ``bare``, the ``websockets`` relay (``bench/bare_relay.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness

sb = harness.load_signaling_bench("telehealth_bench_burst", redis_db=10)
log = sb.log

MEMORY_SLACK_MB = 20
MEMORY_SLACK_RATIO = 0.10
HANDSHAKE_P99_GOAL_MS = 1000
WARM_ROOMS = 10
PRESENCE_PATTERN = "telehealth:presence:*"


@dataclass
class Handshake:
    open_ns: int | None = None
    first_ns: int | None = None
    ready_ns: int | None = None
    error: str | None = None


async def handshake(target, room_id: str, token: str, timeout: float) -> tuple[Handshake, Any]:
    result = Handshake()
    start = time.perf_counter_ns()
    ws = None
    try:
        ws = await asyncio.wait_for(sb.ws_open(target, room_id, token), timeout)
        result.open_ns = time.perf_counter_ns() - start
        deadline = time.monotonic() + timeout
        while True:
            frame = await sb.recv_json(ws, max(0.001, deadline - time.monotonic()))
            if result.first_ns is None:
                result.first_ns = time.perf_counter_ns() - start
            if frame.get("type") == target.ready_type:
                result.ready_ns = time.perf_counter_ns() - start
                break
            if frame.get("type") == "error":
                raise RuntimeError(f"error frame {frame.get('code')}")
    except Exception as exc:
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        result.error = f"{type(exc).__name__}{f' {code}' if code else ''}: {str(exc)[:80]}"
    return result, ws


class Processes:
    """Several daphne processes of one deployment seen as one server, as a client sees them with no
    balancer in front: each socket goes to the next process in turn (so the two participants of a
    room are on different processes), CPU and memory are summed over the processes."""

    def __init__(self, servers: list) -> None:
        self.servers = servers
        self._turn = itertools.cycle(servers)
        self.name = "+".join(server.name for server in servers)
        self.popen = servers[0].popen

    @property
    def ws_base(self) -> str:
        return next(self._turn).ws_base

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    def rss_kb(self) -> int:
        return sum(server.rss_kb() for server in self.servers)

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def stop(self, timeout: float = 8.0) -> None:
        for server in self.servers:
            server.stop(timeout=timeout)


class NotificationsTarget:
    """The notifications socket (``/ws/notifications/``), one per user's app: what a fleet of mobile
    apps reconnecting at once (a deploy, a network blip) looks like. Ready = ``connected``."""

    label = "ours"
    app = True
    ready_type = "connected"

    def __init__(self, server) -> None:
        self.server = server

    def url(self, _room_id: str) -> str:
        return f"{self.server.ws_base}/ws/notifications/"


class LogWatches:
    """``LogWatch`` over every process."""

    def __init__(self, servers: list) -> None:
        self.watches = [sb.LogWatch(server) for server in servers]
        self.messages: Counter[str] = Counter()

    def new(self) -> int:
        count = sum(watch.new() for watch in self.watches)
        self.messages = sum((watch.messages for watch in self.watches), Counter())
        return count


def presence_count(redis_url: str | None) -> int | None:
    """Presence entries left in the bench's Redis DB (None without Redis)."""
    if not redis_url:
        return None
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        return sum(client.hlen(key) for key in client.scan_iter(PRESENCE_PATTERN, count=1000))
    finally:
        client.close()


class RssSampler:
    def __init__(self, server) -> None:
        self.server = server
        self.peak = 0
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self.server.rss_kb())
            await asyncio.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self.task:
            self.task.cancel()
        with contextlib.suppress(Exception):
            self.peak = max(self.peak, self.server.rss_kb())


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


async def wait_disconnected(redis_url: str | None, app: bool, timeout: float = 60) -> float:
    """Seconds until the server has run every disconnect (its presence entries are gone)."""
    start = time.monotonic()
    if not app or not redis_url:
        await asyncio.sleep(1.0)
        return time.monotonic() - start
    while time.monotonic() - start < timeout:
        if await asyncio.to_thread(presence_count, redis_url) == 0:
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def collect(target, app: bool, trim: bool = False) -> dict[str, int] | None:
    """A full collection in every process; the RSS summed."""
    if not app:
        return None
    results = [
        await asyncio.to_thread(harness.collect_garbage, port, trim=trim) for port in target.server.ports
    ]
    return {key: sum(r[key] for r in results) for key in results[0]}


async def burst(
    target, pairs: list[tuple[str, str]], *, redis_url: str | None, settle: float, timeout: float
) -> dict[str, Any]:
    server, app = target.server, target.app
    logs = LogWatches(server.servers if app else [server])
    logs.new()
    gc.collect()
    collected = await collect(target, app)
    await asyncio.sleep(1)
    rss_before = server.rss_kb()
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    with RssSampler(server) as sampler:
        results = await asyncio.gather(*(handshake(target, room, token, timeout) for room, token in pairs))
        all_in = time.monotonic() - started
        cpu_burst = server.cpu_seconds() - cpu_before
        await asyncio.sleep(1)  # frames after the entry (presence joins) are handled
        sockets = [ws for _r, ws in results if ws is not None]
        open_after = sum(ws.state is sb.State.OPEN for ws in sockets)
        rss_connected = server.rss_kb()
        close_start = time.monotonic()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        closed = time.monotonic() - close_start
    drained = await wait_disconnected(redis_url, app)
    left = await asyncio.to_thread(presence_count, redis_url) if app else None
    rss_disconnected = server.rss_kb()
    await asyncio.sleep(settle)
    rss_settled = server.rss_kb()
    after_gc = await collect(target, app)
    rss_gc = after_gc["rss_kb"] if after_gc else None
    trimmed = await collect(target, app, trim=True)
    rss_trim = trimmed["rss_kb"] if trimmed else None
    errors = Counter(r.error for r, _ws in results if r.error)
    ready = [r.ready_ns for r, _ws in results if r.ready_ns is not None]
    final = rss_gc if rss_gc is not None else rss_settled
    allowed = max(MEMORY_SLACK_MB * 1024, MEMORY_SLACK_RATIO * rss_before)
    return {
        "sockets": len(pairs),
        "ready": len(ready),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "open_after_1s": open_after,
        "open_ms": sb.ms_summary([r.open_ns for r, _ws in results if r.open_ns is not None], 50, 95, 99, 100),
        "first_frame_ms": sb.ms_summary(
            [r.first_ns for r, _ws in results if r.first_ns is not None], 50, 95, 99, 100
        ),
        "ready_ms": sb.ms_summary(ready, 50, 95, 99, 100),
        "all_in_seconds": round(all_in, 2),
        "connects_per_s": round(len(ready) / all_in, 1),
        "server_cpu_seconds": round(cpu_burst, 2),
        "server_cpu_ms_per_connect": round(1000 * cpu_burst / max(1, len(pairs)), 2),
        "close_seconds": round(closed, 2),
        "disconnects_done_seconds": round(drained, 2),
        "presence_left": left,
        "rss_mb": {
            "before": mb(rss_before),
            "peak": mb(sampler.peak),
            "connected": mb(rss_connected),
            "disconnected": mb(rss_disconnected),
            "settled": mb(rss_settled),
            "after_gc": mb(rss_gc),
            "after_malloc_trim": mb(rss_trim),
        },
        "gc_before_collected": collected["collected"] if collected else None,
        # Python objects and allocator blocks in use before the burst and after it (and a collection):
        # equal counts with a higher RSS mean memory the allocators keep, not objects kept alive.
        "python_objects": [collected.get("objects"), after_gc.get("objects")] if collected else None,
        "allocated_blocks": [collected.get("allocated_blocks"), after_gc.get("allocated_blocks")]
        if collected
        else None,
        "memory_back_near_baseline": final <= rss_before + allowed,
        "memory_allowed_mb": round(allowed / 1024, 1),
        "server_log_errors": logs.new(),
        "server_log_messages": dict(logs.messages.most_common(5)),
    }


def log_burst(label: str, r: dict[str, Any]) -> None:
    q = r["ready_ms"]
    m = r["rss_mb"]
    log(
        f"  {label}: {r['ready']}/{r['sockets']} ready in {r['all_in_seconds']} s, errors {r['errors']} "
        f"{r['error_kinds'] or ''}; ready p50/p95/p99/max {q['p50']}/{q['p95']}/{q['p99']}/{q['p100']} ms; "
        f"server CPU {r['server_cpu_ms_per_connect']} ms/connect; RSS MB before {m['before']} peak "
        f"{m['peak']} disconnected {m['disconnected']} settled {m['settled']} gc {m['after_gc']} "
        f"trim {m['after_malloc_trim']}; server log {r['server_log_errors']}"
    )


def start_daphne(name: str, env: dict[str, str], workdir: Path, backlog: int | None, app: str):
    def argv(port: int) -> list[str]:
        endpoint = f"tcp:port={port}:interface=127.0.0.1" + (f":backlog={backlog}" if backlog else "")
        return [sys.executable, "-m", "daphne", "-e", endpoint, app]

    return harness.start_server(sb, name, argv, env, workdir, harness.http_ok("/health/"))


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    return await harness.run_with_clock(sb, workdir, lambda clock: _run(args, workdir, clock))


async def _run(args: argparse.Namespace, workdir: Path, clock) -> dict[str, Any]:
    results: dict[str, Any] = harness.machine_state(
        sb,
        log,
        connections=args.connections,
        rounds=args.rounds,
        processes=args.processes,
        socket=args.socket,
        backlog=args.backlog,
    )
    sb.raise_nofile()
    database_url = sb.postgres_database()
    if database_url is None:
        raise RuntimeError("PostgreSQL is needed (BENCH_PG_URL)")
    redis = sb.redis_reachable()
    redis_url = sb.REDIS_BENCH_URL if redis else None
    log(f"database {database_url}; Redis {redis_url or 'none (in memory)'}")
    env = sb.server_env(database_url, None, redis) | {"DJANGO_SETTINGS_MODULE": harness.BENCH_SETTINGS}
    for extra in args.env:
        key, _, value = extra.partition("=")
        env[key] = value
    results["server_env"] = {k: v for k, v in env.items() if k.startswith(("WS_", "SIGNALING", "DATABASE_"))}
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
    per_round = math.ceil(args.connections / 2)
    plan = sb.Plan(**{**sb.asdict(sb.QUICK), "cap": 2 * (WARM_ROOMS + per_round * args.rounds)})
    fixtures = await asyncio.to_thread(sb.create_fixtures, env, plan, [])
    gc.collect()
    gc.freeze()
    log(
        f"migrated, {len(fixtures.idle)} in-progress consultations with tokens "
        f"in {time.monotonic() - started:.1f}s"
    )

    def sockets_of(rooms) -> list[tuple[str, str]]:
        return [(room.id, token) for room in rooms for token in (room.patient_token, room.doctor_token)]

    warm = sockets_of(fixtures.idle[:WARM_ROOMS])
    rounds = [
        sockets_of(fixtures.idle[WARM_ROOMS + i * per_round : WARM_ROOMS + (i + 1) * per_round])[
            : args.connections
        ]
        for i in range(args.rounds)
    ]
    profiler = sb.Profiler(workdir / "profiles" if args.profile else None)
    if profiler.directory:
        profiler.directory.mkdir(parents=True, exist_ok=True)
    results["bursts"] = {}
    for key in args.servers:
        if key == "ours":
            server = Processes(
                [
                    start_daphne(f"daphne-burst-{i}", env, workdir, args.backlog, "asgi:application")
                    for i in range(args.processes)
                ]
            )
            target = (
                NotificationsTarget(server)
                if args.socket == "notifications"
                else sb.Target("ours", server, True)
            )
        elif key == "daphne":
            server = start_daphne(
                "daphne-floor", env, workdir, args.backlog, "bench.daphne_floor:application"
            )
            target = sb.Target("daphne", server, False)
        else:
            server = sb.start_bare("bare-burst", env, workdir, None, backlog=args.backlog)
            target = sb.Target("bare", server, False)
        ports = server.ports if key == "ours" else [server.port]
        log(f"{key}: pid {server.popen.pid}, ports {ports}; warm-up burst of {len(warm)}")
        await burst(target, warm, redis_url=redis_url, settle=0.5, timeout=args.timeout)
        results["bursts"][key] = []
        for i, pairs in enumerate(rounds, 1):
            with clock.phase(f"burst {i} {key}"), profiler.phase(server, f"burst-{i}", key == "ours"):
                result = await burst(
                    target, pairs, redis_url=redis_url, settle=args.settle, timeout=args.timeout
                )
            results["bursts"][key].append(result)
            log_burst(f"{key} burst {i}", result)
        server.stop(timeout=5)
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    results["load_average_after"] = sb.load_average()
    results["phases"] = clock.phases
    results["server_problems"] = {s.name: problem for s in sb.STARTED if (problem := s.problems())[0]}
    if profiler.directory:
        results["profiles"] = {}
        for name, path in profiler.outputs.items():
            summary = sb.summarise_profile(path, top=25)
            results["profiles"][name] = summary
            print(f"\nProfile of daphne during {name} ({summary['busy_samples']} busy samples, {path}):")
            for title, key in (("our code, inclusive", "ours_inclusive"), ("self time", "self")):
                print(f"  {title}:")
                for fn, share in summary[key]:
                    print(f"    {share:5.1f}%  {fn}")
    return results


def report(results: dict[str, Any]) -> None:
    bursts = results["bursts"]
    servers = list(bursts)
    header = ["metric"] + [f"{s} #{i + 1}" for s in servers for i in range(len(bursts[s]))]
    columns = [r for s in servers for r in bursts[s]]
    fmt = sb.fmt

    def line(label: str, get) -> list[str]:
        return [label] + [fmt(get(r)) for r in columns]

    rows = [
        line("sockets", lambda r: r["sockets"]),
        line("errors", lambda r: r["errors"]),
        line("open (HTTP 101) p99 (ms)", lambda r: r["open_ms"]["p99"]),
        line("first frame p99 (ms)", lambda r: r["first_frame_ms"]["p99"]),
    ]
    rows += [line(f"ready {q} (ms)", lambda r, q=q: r["ready_ms"][q]) for q in ("p50", "p95", "p99", "p100")]
    rows += [
        line("all ready after (s)", lambda r: r["all_in_seconds"]),
        line("server CPU per connect (ms)", lambda r: r["server_cpu_ms_per_connect"]),
        line("disconnects done after (s)", lambda r: r["disconnects_done_seconds"]),
    ]
    for key, label in (
        ("before", "RSS before (MB)"),
        ("peak", "RSS peak (MB)"),
        ("disconnected", "RSS all disconnected (MB)"),
        ("settled", "RSS +settle (MB)"),
        ("after_gc", "RSS +gc.collect (MB)"),
        ("after_malloc_trim", "RSS +malloc_trim (MB)"),
    ):
        rows.append(line(label, lambda r, key=key: r["rss_mb"][key]))
    rows.append(line("server log errors/warnings", lambda r: r["server_log_errors"]))
    print()
    sb.print_table(
        f"Connect burst ({results['connections']:,} {results['socket']} sockets at once, "
        f"{results['processes']} daphne process(es), backlog {results['backlog']}; {results['machine']}; "
        "ours = daphne + Channels app, daphne = daphne + bench/daphne_floor.py, bare = bench/bare_relay.py)",
        header,
        rows,
    )
    print()
    for server in servers:
        for i, r in enumerate(bursts[server], 1):
            p99 = r["ready_ms"]["p99"]
            ok_latency = p99 < HANDSHAKE_P99_GOAL_MS
            m = r["rss_mb"]
            final = m["after_gc"] if m["after_gc"] is not None else m["settled"]
            print(
                f"{server} burst {i}: handshake p99 < 1 s: {'PASS' if ok_latency else 'FAIL'} "
                f"({fmt(p99)} ms); zero errors: {'PASS' if not r['errors'] else 'FAIL'} ({r['errors']}); "
                f"memory back near baseline (<= before + {r['memory_allowed_mb']} MB): "
                f"{'PASS' if r['memory_back_near_baseline'] else 'FAIL'} ({m['before']} -> {final} MB)"
            )
            for kind, count in r["error_kinds"].items():
                print(f"    x{count} {kind}")
            for message, count in r["server_log_messages"].items():
                print(f"    server log x{count}: {message}")
    harness.print_warnings(results)


def main() -> int:
    parser = argparse.ArgumentParser(description="N authenticated room sockets connecting at once.")
    parser.add_argument("--quick", action="store_true", help="200 sockets, one burst")
    parser.add_argument("--connections", type=int, help="sockets per burst (default 1000)")
    parser.add_argument("--rounds", type=int, help="bursts per server, each in fresh rooms (default 2)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the disconnects")
    parser.add_argument("--timeout", type=float, default=30.0, help="per socket, until ready")
    parser.add_argument("--servers", type=lambda v: v.split(","), default=["ours", "bare"])
    parser.add_argument(
        "--backlog",
        type=int,
        default=1024,
        help="daphne's listen backlog (default 1024, as `make run`; Twisted's own default, 50, drops "
        "SYNs in a burst: clients wait 1, 3, 7 s to retry and daphne's 5 s handshake timeout answers 403)",
    )
    parser.add_argument(
        "--socket",
        choices=["room", "notifications"],
        default="room",
        help="room: both participants of N/2 consultations enter their room; notifications: N apps "
        "open their notifications socket (patients and doctors of those consultations)",
    )
    parser.add_argument("--processes", type=int, default=1, help="daphne processes (sockets dealt in turn)")
    parser.add_argument("--profile", action="store_true", help="py-spy daphne during the bursts")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra server env")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args()
    args.connections = args.connections or (200 if args.quick else 1000)
    args.rounds = args.rounds or (1 if args.quick else 2)
    with contextlib.suppress(ImportError):
        import uvloop  # the client's own overhead is in every figure: keep it small

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    workdir = Path(tempfile.mkdtemp(prefix="telehealth-burst-"))
    signal.signal(signal.SIGTERM, sb._interrupt)
    ok = False
    try:
        results = asyncio.run(run(args, workdir))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
        report(results)
        log(f"done in {results['elapsed_seconds']}s")
        ok = True
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
