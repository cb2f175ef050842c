"""The log guard's detectors (``tests/log_guard.py``), and the leaks it found, fixed."""

from __future__ import annotations

import logging

import pytest

from telehealth.accounts.services import issue_tokens
from telehealth.accounts.tasks import HideSMSArguments, send_sms
from tests.accounts.conftest import SEND
from tests.log_guard import Line, LogGuard
from tests.permission_matrix import CANARIES

TEST = "tests/x.py::test_x"


def _guard(*lines: Line) -> LogGuard:
    guard = LogGuard()
    guard.lines.extend(lines)
    return guard


def test_a_jwt_in_a_line_is_found(patient):
    token = issue_tokens(patient)["refresh"]
    findings = _guard(Line(TEST, "telehealth.auth", f"refreshing {token}")).scan([], [])

    assert len(findings.jwt) == 1


def test_a_code_counts_in_the_test_that_issued_it_but_not_in_the_console_sms_line():
    guard = _guard(
        Line(TEST, "telehealth.sms", "SMS to +919800000001: 482913 is your Telehealth login code."),
        Line(TEST, "telehealth.auth", "verify 482913 for +9198******01"),
        Line("tests/y.py::test_y", "payments", "amount 482913 paise"),
        Line(TEST, "telehealth.auth", "request 14829130 done"),
    )
    guard.current_test = TEST
    guard.note_sms("482913 is your Telehealth login code. It expires in 5 min.")

    findings = guard.scan([], [])

    assert [line.text for _code, line in findings.otp] == ["verify 482913 for +9198******01"]


def test_short_codes_are_not_searched():
    guard = _guard(Line(TEST, "analytics", "report for 2026"))
    guard.current_test = TEST
    guard.note_code("2026")

    assert not guard.scan([], [])


def test_canaries_and_saved_health_values_are_found():
    guard = _guard(
        Line(TEST, "clinical", f"saved {CANARIES['diagnosis']}"),
        Line(TEST, "clinical", "note: Patient reports dizziness"),
        Line("other::test", "clinical", "Patient reports dizziness"),
        Line(TEST, "telehealth.api", "payload {'chief_complaint': 'cough'}"),
    )
    guard.current_test = TEST
    guard.note_health_value("Patient reports dizziness")
    guard.note_health_value("Asthma")  # too short to search for

    findings = guard.scan([CANARIES["diagnosis"]], [])

    assert [what for what, _line in findings.health] == [
        CANARIES["diagnosis"],
        "Patient reports dizziness",
        "'chief_complaint': 'cough",
    ]


def test_subprocess_logs_are_scanned_with_their_own_codes(tmp_path, patient):
    log = tmp_path / "sample-process.log"  # not daphne-*.log: the real guard would scan it
    log.write_text(
        "2026-01-01 10:00:00,000 INFO    [-] telehealth.sms: SMS to +919800000001: 771203 is your code.\n"
        "2026-01-01 10:00:01,000 INFO    [-] telehealth.auth: checking 771203\n"
        f"2026-01-01 10:00:02,000 INFO    [-] daphne: GET /ws/?token={issue_tokens(patient)['access']}\n"
        f"2026-01-01 10:00:03,000 INFO    [-] clinical: {CANARIES['allergy']}\n"
    )

    findings = LogGuard().scan([CANARIES["allergy"]], [log])

    assert (len(findings.jwt), len(findings.otp), len(findings.health)) == (1, 1, 1)
    assert findings.otp[0][0] == "771203"


def test_a_clean_run_has_no_findings():
    assert not _guard(Line(TEST, "telehealth.auth", "OTP issued for +9198******01")).scan(
        list(CANARIES.values()), []
    )


# --- The leak it found: Celery's task log lines carried the SMS text, code included -----------------


@pytest.mark.django_db
def test_login_code_is_in_no_log_record_of_the_send_path(
    api_client, sms_outbox, caplog, django_capture_on_commit_callbacks
):
    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(SEND, {"phone": "+919800000101"})
    assert response.status_code == 200
    code = sms_outbox[-1][1].split()[0]

    for record in caplog.records:
        assert code not in repr(record.__dict__), record.name


def test_send_sms_retry_and_success_lines_do_not_carry_the_text(settings, caplog, fake_sms_provider):
    settings.SMS_BACKEND = "telehealth.accounts.sms.HTTPSMSBackend"
    settings.SMS_HTTP_URL = fake_sms_provider.url
    fake_sms_provider.fail_first = 1  # one retry, then success: both log lines

    with caplog.at_level(logging.DEBUG):
        send_sms.apply(args=("+919800000104", "918273 is your Telehealth login code."), throw=False)

    assert caplog.records
    for record in caplog.records:
        assert "918273" not in repr(record.__dict__), record.name


def test_other_tasks_keep_their_arguments_in_log_lines():
    record = logging.makeLogRecord({"data": {"name": "accounts.purge_expired_otps", "args": "()"}})
    HideSMSArguments().filter(record)
    assert record.data["args"] == "()"
