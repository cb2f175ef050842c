"""Logging helpers: every log line carries the id of the request (or task) that caused it."""

from __future__ import annotations

import logging

from django_guid import get_guid


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_guid() or "-"
        return True
