"""``.env.example`` documents exactly the environment variables ``telehealth/settings.py`` reads.

Both files are read as text: settings.py is parsed with ``ast`` (not imported), so these tests need
neither a database nor any particular environment.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PY = ROOT / "telehealth" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
ENV_MODULE = "telehealth.env"

# "NAME=value" or "# NAME=value"; prose comments never start with an upper-case NAME=.
_ASSIGNMENT_RE = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@cache
def _settings_tree() -> ast.Module:
    return ast.parse(SETTINGS_PY.read_text(encoding="utf-8"), filename=str(SETTINGS_PY))


def _env_readers(tree: ast.Module) -> set[str]:
    """Helpers imported from telehealth.env, plus settings-local wrappers that pass one of their own
    parameters as the variable name (a ``def wrapper(name, default)`` that calls ``env_str(name, ...)``)."""
    readers = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == ENV_MODULE
        for alias in node.names
    }
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    changed = True
    while changed:
        changed = False
        for func in functions:
            if func.name in readers or not func.args.args:
                continue
            params = {arg.arg for arg in func.args.args}
            for call in ast.walk(func):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id in readers
                    and call.args
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id in params
                ):
                    readers.add(func.name)
                    changed = True
                    break
    return readers


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


@cache
def _env_reads() -> tuple[tuple[tuple[str, ast.Call | None], ...], tuple[str, ...]]:
    """``((variable name, call), ...)`` for every read in settings.py, and where a reader is called
    with something other than a literal name (which these tests could not check).

    Reads inside the wrappers themselves (``env_str(name, ...)`` inside such a wrapper) are skipped: the name
    is a parameter there and the wrapper's callers are what count.
    """
    tree = _settings_tree()
    readers = _env_readers(tree)
    inside_wrappers = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in readers
        for inner in ast.walk(node)
    }
    reads: list[tuple[str, ast.Call | None]] = []
    unreadable: list[str] = []
    for node in ast.walk(tree):
        if id(node) in inside_wrappers:
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in readers:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                reads.append((first.value, node))
            else:
                unreadable.append(f"line {node.lineno}: {node.func.id}()")
        # os.environ.get("X"), os.getenv("X"), os.environ["X"]: not used today, but not missed either.
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            direct = (target.attr == "get" and _is_os_environ(target.value)) or (
                target.attr == "getenv" and isinstance(target.value, ast.Name) and target.value.id == "os"
            )
            if direct and node.args and isinstance(node.args[0], ast.Constant):
                reads.append((node.args[0].value, None))
            elif direct:
                unreadable.append(f"line {node.lineno}: os.{target.attr}()")
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            if isinstance(node.slice, ast.Constant):
                reads.append((node.slice.value, None))
            else:
                unreadable.append(f"line {node.lineno}: os.environ[...]")
    return tuple(reads), tuple(unreadable)


def settings_env_variables() -> set[str]:
    """Names of every environment variable settings.py reads (also used by test_docker_compose)."""
    return {name for name, _ in _env_reads()[0]}


@cache
def _env_example_assignments() -> tuple[tuple[int, bool, str, str], ...]:
    """``(line number, commented out, name, value)`` for every assignment line in .env.example."""
    rows = []
    for lineno, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        match = _ASSIGNMENT_RE.match(line.strip())
        if match:
            rows.append((lineno, bool(match["commented"]), match["name"], match["value"]))
    return tuple(rows)


def _documented_variables() -> set[str]:
    return {name for _, _, name, _ in _env_example_assignments()}


def _literal_default(call: ast.Call) -> str | None:
    """The documented form of a call's default when it is a literal, else None."""
    default: ast.expr | None = None
    if len(call.args) >= 2:
        default = call.args[1]
    for keyword in call.keywords:
        if keyword.arg == "default":
            default = keyword.value
    if default is None:
        # env_str(name) and env_list(name) default to empty.
        return "" if call.func.id in {"env_str", "env_list"} else None
    if isinstance(default, ast.Constant):
        if isinstance(default.value, bool):
            return "true" if default.value else "false"
        if isinstance(default.value, int | str):
            return str(default.value)
        return None
    if isinstance(default, ast.List) and all(isinstance(item, ast.Constant) for item in default.elts):
        return ",".join(str(item.value) for item in default.elts)
    return None


def test_settings_reads_environment_variables():
    """Guards the parser: if it found nothing, the other tests would pass vacuously."""
    names = settings_env_variables()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "THROTTLE_AUTH"} <= names
    assert len(names) > 30


def test_settings_reads_variables_by_literal_name():
    unreadable = _env_reads()[1]
    assert not unreadable, f"settings.py must name environment variables literally: {list(unreadable)}"


def test_every_setting_is_documented_in_env_example():
    missing = sorted(settings_env_variables() - _documented_variables())
    assert not missing, f"settings.py reads these variables, .env.example does not document them: {missing}"


def test_env_example_names_only_variables_settings_reads():
    unknown = sorted(_documented_variables() - settings_env_variables())
    assert not unknown, f".env.example documents variables settings.py never reads: {unknown}"


def test_env_example_sets_nothing_by_default():
    """Copying .env.example to .env must change nothing: every assignment is commented out."""
    rows = _env_example_assignments()
    active = [f"line {lineno}: {name}" for lineno, commented, name, _ in rows if not commented]
    assert not active, f".env.example has uncommented assignments: {active}"


def test_env_example_shows_each_literal_default():
    """Where settings.py has a literal default, one of the documented lines shows exactly it."""
    values: dict[str, set[str]] = {}
    for _, _, name, value in _env_example_assignments():
        values.setdefault(name, set()).add(value)
    wrong = []
    for name, call in _env_reads()[0]:
        if call is None or name not in values:
            continue
        default = _literal_default(call)
        if default is not None and default not in values[name]:
            wrong.append(f"{name}: settings default {default!r}, .env.example shows {sorted(values[name])}")
    assert not wrong, "\n".join(wrong)
