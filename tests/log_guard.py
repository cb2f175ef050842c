"""Log guard: after the run, no log line may hold a JWT, an OTP code or health data.

A pytest plugin (registered in ``tests/conftest.py``; ``-p no:tests.log_guard`` turns it off). It
keeps every log record the run produces, at the levels the project's ``LOGGING`` lets through,
and at the end of the session scans them for:

- **JWTs**: anything shaped like ``eyJ<header>.eyJ<payload>.<signature>``;
- **OTP codes**: every code the run generated or an SMS backend was asked to send. A code only
  counts when it shows up in a line of the test that issued it (six digits and more; a shorter
  code is too likely to be some other number, e.g. a year). The console SMS backend's own
  ``SMS to …`` line is the one place a code may appear: it exists to do exactly that, in
  development;
- **health data**: the permission matrix's canary strings (made-up words, so any hit is a leak),
  and the values of health-data fields (diagnosis, chief complaint, notes, conditions, chat text…)
  saved during a test, searched in that test's lines (values of eight characters and more, so
  that "Asthma" does not collide with ordinary words).

The logs of the live daphne and Celery processes (``tests/live``, files in the run's temporary
directory) are scanned as well: for JWTs, canaries, health values saved anywhere in the run, and
the codes their own console ``SMS to`` lines printed.

Any hit fails the session (exit status 1) with a report of the offending lines, truncated.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
CODE_IN_SMS_RE = re.compile(r"(?<![0-9A-Za-z])(\d{4,12})(?![0-9A-Za-z])")
CONSOLE_SMS_LOGGER = "telehealth.sms"
CONSOLE_SMS_PREFIX = "SMS to "
MIN_CODE_LENGTH = 6
MIN_HEALTH_VALUE_LENGTH = 8
MAX_REPORTED = 20
SESSION = "<outside any test>"

# Health-data fields whose saved values must never reach a log line.
HEALTH_FIELDS: dict[str, tuple[str, ...]] = {
    "clinical.Consultation": ("chief_complaint", "diagnosis", "treatment_plan"),
    "clinical.ConsultationNote": ("text",),
    "clinical.ChatMessage": ("text",),
    "clinical.PatientNote": ("text",),
    "clinical.Condition": ("name", "notes"),
    "clinical.Allergy": ("substance", "reaction"),
    "clinical.Surgery": ("procedure", "notes"),
    "clinical.FamilyHistory": ("condition", "notes"),
    "clinical.CurrentMedication": ("name", "notes"),
    "clinical.Insurance": ("provider", "policy_number"),
    "clinical.EmergencyContact": ("name",),
    "clinical.MedicalRecord": ("title", "description"),
    "clinical.Document": ("original_name",),
    "clinical.Prescription": ("notes", "override_reason"),
    "clinical.PrescriptionItem": ("instructions",),
}
# Keys of a dict or JSON object holding a health value, e.g. a logged serializer payload.
HEALTH_KEY_RE = re.compile(
    r"""["'](chief_complaint|diagnosis|treatment_plan|date_of_birth|blood_group)["']\s*:\s*["'][^"']+"""
)

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


@dataclass
class Line:
    test: str
    logger: str
    text: str
    source: str = "in-process"

    @property
    def is_console_sms(self) -> bool:
        return self.logger == CONSOLE_SMS_LOGGER and self.text.startswith(CONSOLE_SMS_PREFIX)


@dataclass
class Findings:
    jwt: list[Line] = field(default_factory=list)
    otp: list[tuple[str, Line]] = field(default_factory=list)
    health: list[tuple[str, Line]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.jwt or self.otp or self.health)


class _Recorder(logging.Handler):
    def __init__(self, guard: LogGuard) -> None:
        super().__init__(level=logging.NOTSET)
        self.guard = guard
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
            if record.exc_info:
                parts.append(self._formatter.formatException(record.exc_info))
            if record.stack_info:
                parts.append(record.stack_info)
            # The JSON formatter writes extra attributes out as well.
            parts.extend(f"{k}={v!r}" for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS)
            self.guard.add(Line(test=self.guard.current_test, logger=record.name, text="\n".join(parts)))
        except Exception:  # a guard must never break the logging call it watches
            self.handleError(record)


class LogGuard:
    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.current_test = SESSION
        self.codes: dict[str, set[str]] = defaultdict(set)  # test → codes issued or texted
        self.health_values: dict[str, set[str]] = defaultdict(set)  # test → values saved
        self.handler = _Recorder(self)
        self._lock = threading.Lock()
        self._attached: set[str] = set()

    # --- collecting ---------------------------------------------------------------------------

    def add(self, line: Line) -> None:
        with self._lock:
            self.lines.append(line)

    def attach(self) -> None:
        """Root plus every logger that does not propagate; re-run per test in case something
        (Celery, a test) reconfigured logging."""
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if (
                isinstance(logger, logging.Logger)
                and not logger.propagate
                and self.handler not in logger.handlers
            ):
                logger.addHandler(self.handler)
                self._attached.add(name)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name in self._attached:
            logging.getLogger(name).removeHandler(self.handler)

    def note_code(self, code: str) -> None:
        if len(code) >= MIN_CODE_LENGTH:
            self.codes[self.current_test].add(code)

    def note_sms(self, message: str) -> None:
        for code in CODE_IN_SMS_RE.findall(message or ""):
            self.note_code(code)

    def note_health_value(self, value: object) -> None:
        if isinstance(value, str) and len(value.strip()) >= MIN_HEALTH_VALUE_LENGTH:
            self.health_values[self.current_test].add(value.strip())

    # --- scanning ---------------------------------------------------------------------------

    def scan(self, canaries: list[str], subprocess_logs: list[Path]) -> Findings:
        findings = Findings()
        # A live process's log cannot be tied to one test, so it is searched for every test's saved
        # values; only free text (several words) there: a one-word value such as "notifications"
        # also names tasks and modules.
        all_health = set(canaries) | {
            value for values in self.health_values.values() for value in values if " " in value
        }
        for line in self.lines:
            if JWT_RE.search(line.text):
                findings.jwt.append(line)
            if not line.is_console_sms:
                for code in self.codes.get(line.test, ()):
                    if _contains_number(line.text, code):
                        findings.otp.append((code, line))
            for value in (*canaries, *self.health_values.get(line.test, ())):
                if value in line.text:
                    findings.health.append((value, line))
            match = HEALTH_KEY_RE.search(line.text)
            if match:
                findings.health.append((match.group(0), line))
        for path in subprocess_logs:
            self._scan_file(path, all_health, findings)
        return findings

    def _scan_file(self, path: Path, health: set[str], findings: Findings) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        sms_lines = {
            i for i, line in enumerate(lines) if f"{CONSOLE_SMS_LOGGER}: {CONSOLE_SMS_PREFIX}" in line
        }
        codes = {
            code
            for i in sms_lines
            for code in CODE_IN_SMS_RE.findall(lines[i].split(CONSOLE_SMS_PREFIX, 1)[1])
            if len(code) >= MIN_CODE_LENGTH
        }
        for i, raw in enumerate(lines):
            line = Line(test=path.parent.name, logger="", text=raw, source=str(path))
            if JWT_RE.search(raw):
                findings.jwt.append(line)
            if i not in sms_lines:
                for code in codes:
                    if _contains_number(raw, code):
                        findings.otp.append((code, line))
            for value in health:
                if value in raw:
                    findings.health.append((value, line))


def _contains_number(text: str, number: str) -> bool:
    return re.search(rf"(?<![0-9A-Za-z]){number}(?![0-9A-Za-z])", text) is not None


def _truncate(text: str, limit: int = 240) -> str:
    # The report goes to the terminal and CI logs too: it must not repeat a working token.
    text = JWT_RE.sub(lambda m: m.group(0)[:12] + "…<JWT>", text).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _report(findings: Findings) -> list[str]:
    out = ["Log guard: secrets or health data reached the logs, so the run fails (exit status 1)."]

    def section(title: str, items: list[tuple[str, Line]]) -> None:
        if not items:
            return
        out.append(f"-- {title}: {len(items)} line(s)")
        for what, line in items[:MAX_REPORTED]:
            where = line.source if line.source != "in-process" else f"{line.test} [{line.logger}]"
            out.append(f"   {where}: {what!r} in: {_truncate(line.text)}")
        if len(items) > MAX_REPORTED:
            out.append(f"   … and {len(items) - MAX_REPORTED} more")

    section("JWT", [("eyJ…", line) for line in findings.jwt])
    section("OTP code", findings.otp)
    section("health data", findings.health)
    return out


# --- Wiring ---------------------------------------------------------------------------------------

_KEY = pytest.StashKey[LogGuard]()
_FINDINGS = pytest.StashKey[Findings]()
_STATS = pytest.StashKey[str]()


def _wrap_code_sources(guard: LogGuard) -> None:
    """Remember every code generated and every SMS an SMS backend is handed."""
    from telehealth.accounts import services, sms

    generate = services._generate_code

    def generate_and_note(length: int) -> str:
        code = generate(length)
        guard.note_code(code)
        return code

    services._generate_code = generate_and_note
    for backend in (sms.LocMemSMSBackend, sms.ConsoleSMSBackend, sms.HTTPSMSBackend):
        original = backend.send

        def send(self, phone: str, message: str, _original=original) -> None:
            guard.note_sms(message)
            return _original(self, phone, message)

        backend.send = send


def _watch_health_saves(guard: LogGuard) -> None:
    from django.apps import apps
    from django.db.models.signals import post_save

    for label, fields in HEALTH_FIELDS.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue

        def saved(sender, instance, _fields=fields, **kwargs) -> None:
            for name in _fields:
                guard.note_health_value(getattr(instance, name, None))

        post_save.connect(saved, sender=model, weak=False, dispatch_uid=f"log_guard:{label}")


def _canaries() -> list[str]:
    try:
        from tests.permission_matrix import CANARIES
    except Exception:  # the matrix module needs the whole app; never fail the guard on import
        return []
    # The phone canary is bare digits; the matrix checks responses for it, logs carry masked phones.
    return [value for key, value in CANARIES.items() if key != "phone"]


def _subprocess_logs(config: pytest.Config) -> list[Path]:
    factory = getattr(config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)
    if base is None or not Path(base).exists():
        return []
    return sorted(p for pattern in ("daphne-*.log", "celery-*.log") for p in Path(base).rglob(pattern))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # After pytest-django's django.setup(), so the project's LOGGING (which replaces the root
    # logger's handlers) is already in place.
    guard = LogGuard()
    session.config.stash[_KEY] = guard
    _wrap_code_sources(guard)
    _watch_health_saves(guard)
    guard.attach()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    guard = item.config.stash.get(_KEY, None)
    if guard is not None:
        guard.current_test = item.nodeid
        guard.attach()
    try:
        return (yield)
    finally:
        if guard is not None:
            guard.current_test = SESSION


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = session.config.stash.get(_KEY, None)
    if guard is None:
        return
    guard.detach()
    logs = _subprocess_logs(session.config)
    findings = guard.scan(_canaries(), logs)
    session.config.stash[_STATS] = (
        f"log guard: {len(guard.lines)} log records and {len(logs)} process logs scanned for JWTs, "
        f"{sum(map(len, guard.codes.values()))} OTP codes and "
        f"{sum(map(len, guard.health_values.values()))} saved health values"
    )
    if findings:
        session.config.stash[_FINDINGS] = findings
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if config.option.verbose > 0 and _STATS in config.stash:
        terminalreporter.write_line(config.stash[_STATS])
    findings = config.stash.get(_FINDINGS, None)
    if findings:
        terminalreporter.section("log guard", sep="=", red=True, bold=True)
        for line in _report(findings):
            terminalreporter.line(line, red=line.startswith("Log guard"))
