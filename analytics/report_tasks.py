"""The custom report task. Late acknowledgement: a worker that dies mid-run leaves the message to
be delivered again, and the run is taken up again; a run that is done or failed is left alone, so
a duplicate delivery changes nothing."""

from __future__ import annotations

from celery import shared_task

from analytics.reports import services


@shared_task(name="analytics.run_report", acks_late=True, reject_on_worker_lost=True)
def run_report(run_id: str) -> str | None:
    """Compute report run ``run_id``; returns its final status (None if there was nothing to do)."""
    run = services.execute_run(run_id)
    return run.status if run is not None else None
