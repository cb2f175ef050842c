"""A configured but unreachable service stops the whole run with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "tests/live/_loud_sample.py"


def _run_pytest(**env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(REPO_ROOT), "-q", SAMPLE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("var", "url"),
    [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/test"),
        ("REDIS_URL", "redis://127.0.0.1:1/0"),
    ],
)
def test_unreachable_service_stops_the_run(var, url):
    result = _run_pytest(**{var: url})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert var in output, output
    assert url in output, output
    assert "unreachable" in output, output
    assert "1 passed" not in output, output


def test_sample_passes_on_embedded_defaults():
    """The control: the same run without the broken URL passes, so the failures above are the check's."""
    result = _run_pytest()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
