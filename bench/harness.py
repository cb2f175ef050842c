"""What ``bench/connect_burst.py`` and ``bench/rest.py`` share with ``bench/signaling.py``.

``bench/signaling.py`` cannot be imported by its name: ``signaling`` is also the app of that name,
and the repository must come first on ``sys.path`` for Django. It is loaded here from its file as
``bench_signaling`` instead, and each bench points it at its own PostgreSQL database and Redis
database, so that two benches (or a bench and a test run) never drop each other's data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
if sys.path[0] == str(BENCH_DIR):  # ``python bench/x.py``: the app ``signaling``, not this folder's
    sys.path[0] = str(REPO)
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Serves the project's URLs plus the bench-only ones (``bench/bench_urls.py``); never in production.
BENCH_SETTINGS = "bench.bench_settings"


def load_signaling_bench(database: str, redis_db: int) -> ModuleType:
    """``bench/signaling.py`` as a module, using ``database`` and Redis DB ``redis_db``."""
    if not database.startswith("telehealth_bench_") or redis_db in (0, 9):
        raise ValueError("a bench database of its own, and a Redis DB nothing else uses")
    spec = importlib.util.spec_from_file_location("bench_signaling", BENCH_DIR / "signaling.py")
    if spec is None or spec.loader is None:
        raise ImportError("bench/signaling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    module.BENCH_DB_NAME = database
    module.REDIS_BENCH_URL = f"redis://127.0.0.1:6379/{redis_db}"
    return module


def start_server(
    sb: ModuleType,
    name: str,
    argv: Callable[[int], list[str]],
    env: dict[str, str],
    workdir: Path,
    ready: Callable[[int], bool],
    timeout: float = 40,
):
    """Start ``argv(port)`` on a free port (three attempts) and wait until ``ready(port)``."""
    for _attempt in range(3):
        port = sb.free_port()
        server = sb._spawn(name, argv(port), env, workdir, port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.popen.poll() is not None:
                break
            with contextlib.suppress(Exception):
                if ready(port):
                    return server
            time.sleep(0.1)
        tail = server.log_tail()
        server.stop()
        sb.STARTED.remove(server)
        if "Address already in use" not in tail and "address already in use" not in tail:
            raise RuntimeError(f"{name} did not start:\n{tail}")
    raise RuntimeError(f"{name} could not bind a free port three times")


def http_ok(path: str) -> Callable[[int], bool]:
    def check(port: int) -> bool:
        import httpx

        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500

    return check


def collect_garbage(port: int, *, trim: bool = False) -> dict[str, int]:
    """Ask a server with the bench URLs to run a full garbage collection (and ``malloc_trim``)."""
    import httpx

    response = httpx.get(f"http://127.0.0.1:{port}/bench/gc/", params={"trim": int(trim)}, timeout=30)
    response.raise_for_status()
    return json.loads(response.content)


async def run_with_clock(sb: ModuleType, workdir: Path, body: Callable) -> dict:
    """Run ``body(clock)`` with a phase clock that records contention, stopped whatever happens."""
    clock = sb.PhaseClock(workdir)
    try:
        return await body(clock)
    finally:
        clock.stop()


def machine_state(sb: ModuleType, log: Callable[[str], None], **settings) -> dict:
    """The results' header: date, machine, the run's settings and how busy the machine was at the
    start (with a warning when the figures will be skewed)."""
    import os
    import platform
    from datetime import UTC, datetime

    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        **settings,
    }
    busy, steal = sb.cpu_busy_percent()
    results |= {
        "machine_busy_before_percent": busy,
        "steal_before_percent": steal,
        "load_average_before": sb.load_average(),
    }
    log(f"machine: {results['machine']}; CPU busy {busy}%, steal {steal}%, load {sb.load_average()}")
    if busy > 20 or steal > 5:
        log("WARNING: the machine is busy or stolen from: every figure below will be skewed")
    return results


def print_warnings(results: dict) -> None:
    """After a bench's table: the phases other processes or the hypervisor skewed, a busy start,
    and the servers that logged errors."""
    for name, p in results["phases"].items():
        if p["foreign_percent_of_machine"] > 10:
            print(
                f"WARNING: other processes used {p['foreign_percent_of_machine']}% of the machine during "
                f"{name} ({p['foreign_cpu_seconds']} CPU-s in {p['seconds']} s): its figures are skewed"
            )
        if p["steal_percent"] > 5:
            print(f"WARNING: steal {p['steal_percent']}% during {name}: its figures are stretched")
    if results["machine_busy_before_percent"] > 20:
        print(f"WARNING: the machine was {results['machine_busy_before_percent']}% busy before the start")
    for name, (count, first) in results["server_problems"].items():
        print(f"  WARNING {name} logged {count} errors/tracebacks; the first:\n{first}")
