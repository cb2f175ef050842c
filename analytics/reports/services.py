"""Writes of custom reports: definitions (saved by staff) and their runs (computed by the
``analytics.run_report`` task).

Who may do what: every staff user (admin, superadmin) sees every definition and every run, and may
run any definition: reports are the team's. Only a definition's owner, or a superadmin, changes or
deletes it. Deleting a definition deletes its runs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from analytics.models import ReportDefinition, ReportRun, ReportStatus
from analytics.periods import Window
from analytics.reports import error_codes
from analytics.reports.query import ReportTooLarge, compute
from analytics.reports.specs import SPEC_FIELDS, run_dates, spec_of
from telehealth.accounts.models import Role, User
from telehealth.api.errors import ServiceError

logger = logging.getLogger("analytics")


def may_edit(user: User, definition: ReportDefinition) -> bool:
    return user.pk == definition.owner_id or user.role == Role.SUPERADMIN


def check_editable(actor: User, definition: ReportDefinition) -> None:
    if not may_edit(actor, definition):
        raise ServiceError(
            error_codes.REPORT_NOT_EDITABLE,
            "Only the report's owner or a superadmin may change it.",
            status=403,
        )


def create_definition(actor: User, *, spec: dict[str, Any]) -> ReportDefinition:
    """Save a definition (``spec`` already checked by ``specs.check_spec``) owned by ``actor``."""
    return ReportDefinition.objects.create(owner=actor, **{name: spec[name] for name in SPEC_FIELDS})


def update_definition(actor: User, definition: ReportDefinition, *, spec: dict[str, Any]) -> ReportDefinition:
    """Replace the definition's fields with ``spec`` (the merged, checked result of a PATCH). Runs
    already requested keep the spec they were requested with."""
    check_editable(actor, definition)
    for name in SPEC_FIELDS:
        setattr(definition, name, spec[name])
    definition.save()
    return definition


def delete_definition(actor: User, definition: ReportDefinition) -> None:
    check_editable(actor, definition)
    definition.delete()


def request_run(actor: User, definition: ReportDefinition, *, now: datetime | None = None) -> ReportRun:
    """Queue a run of ``definition`` as it is now, over the days its range means today (in its
    time zone). The task is sent once the run is committed."""
    from analytics.report_tasks import run_report

    spec = spec_of(definition)
    # Custom ranges were checked when saved; the longest relative one (a year) fits any granularity.
    start, end = run_dates(spec, now=now)
    with transaction.atomic():
        run = ReportRun.objects.create(
            definition=definition, requested_by=actor, spec=spec, date_from=start, date_to=end
        )
        transaction.on_commit(lambda: run_report.delay(str(run.pk)))
    return run


def _claim(run_id: str) -> ReportRun | None:
    """Mark the run running and return it; None when there is nothing to do (unknown, done or
    failed). A running run is taken again: its worker died and the message came back."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in (ReportStatus.DONE, ReportStatus.FAILED):
            return None
        run.status = ReportStatus.RUNNING
        run.started_at = timezone.now()
        run.attempts += 1
        run.save(update_fields=["status", "started_at", "attempts"])
        return run


def _finish(run: ReportRun, **fields: Any) -> None:
    fields["finished_at"] = timezone.now()
    # Only the attempt that holds the run writes it: a finished run is never rewritten.
    ReportRun.objects.filter(pk=run.pk, status=ReportStatus.RUNNING).update(**fields)


def execute_run(run_id: str) -> ReportRun | None:
    """Compute a queued run and store its rows, or the reason it failed. Running a finished run
    again does nothing (returns None)."""
    run = _claim(run_id)
    if run is None:
        logger.info("report run %s: nothing to do", run_id)
        return None
    spec = run.spec
    window = Window(
        start=run.date_from,
        end=run.date_to,
        zone=ZoneInfo(spec["time_zone"]),
        granularity=spec["granularity"],
    )
    try:
        result = compute(spec["metric"], spec["dimensions"], spec["filters"], window)
    except ReportTooLarge as error:
        _finish(run, status=ReportStatus.FAILED, error=str(error))
    except Exception as error:
        logger.exception("report run %s failed", run.pk)
        _finish(run, status=ReportStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
    else:
        _finish(
            run,
            status=ReportStatus.DONE,
            columns=result.columns,
            rows=result.rows,
            row_count=len(result.rows),
            error="",
        )
        logger.info("report run %s done: %d rows", run.pk, len(result.rows))
    run.refresh_from_db()
    return run
