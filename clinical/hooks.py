"""Extension points for apps that build on clinical (payments) without clinical importing them.

Dependencies point one way: payments imports clinical, never the reverse. Where clinical must let
another app react to one of its changes (a refund when a paid booking is cancelled), that app
registers a callback here from its ``AppConfig.ready()``, and clinical calls every callback after
its transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

logger = logging.getLogger("clinical.hooks")


@dataclass(frozen=True)
class ConsultationVoided:
    """A booking that will not take place: cancelled, or a no-show."""

    consultation_id: str
    state: str  # "cancelled" | "no_show"
    previous_state: str
    actor_id: str | None  # None: the system (an expired or failed payment)
    at: datetime
    # Was it before the booking-change cut-off (BOOKING_CHANGE_CUTOFF_HOURS before the start)?
    inside_change_window: bool
    no_show_party: str = ""  # "patient" | "doctor" for no-shows


VoidedCallback = Callable[[ConsultationVoided], None]
_voided_callbacks: list[VoidedCallback] = []


def on_consultation_voided(callback: VoidedCallback) -> VoidedCallback:
    """Register ``callback`` (once, however often ``ready()`` runs); usable as a decorator."""
    if callback not in _voided_callbacks:
        _voided_callbacks.append(callback)
    return callback


def consultation_voided(event: ConsultationVoided) -> None:
    """Tell every registered callback after the current transaction commits (at once outside one).
    A failing callback is logged and does not stop the others: the clinical change stands."""
    for callback in list(_voided_callbacks):
        transaction.on_commit(_guarded(callback, event))


def _guarded(callback: VoidedCallback, event: ConsultationVoided) -> Callable[[], None]:
    def run() -> None:
        try:
            callback(event)
        except Exception:
            logger.exception("%s failed for consultation %s", callback.__qualname__, event.consultation_id)

    return run
