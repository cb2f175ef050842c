"""Let the test suite's flush past the audit log's DELETE trigger on SQLite.

Between transactional tests pytest-django flushes every table. PostgreSQL flushes with TRUNCATE,
which fires no row trigger; SQLite flushes with ``DELETE FROM``, which the append-only trigger
(``telehealth/audit/migrations/0002``) refuses. So on SQLite the flush opens the same door as
``telehealth.audit.services.purge_entries``: a row in ``audit_purge_allowed`` that lives only
inside the flush's own transaction. Nothing else in the tests gets past the trigger.
"""

from __future__ import annotations

from django.db.backends.sqlite3.base import DatabaseWrapper

DatabaseOperations = DatabaseWrapper.ops_class
_original = DatabaseOperations.execute_sql_flush


def _execute_sql_flush(self, sql_list):
    if "audit_purge_allowed" in self.connection.introspection.table_names():
        sql_list = [
            "INSERT INTO audit_purge_allowed DEFAULT VALUES",
            *sql_list,
            "DELETE FROM audit_purge_allowed",
        ]
    return _original(self, sql_list)


def pytest_configure(config) -> None:
    DatabaseOperations.execute_sql_flush = _execute_sql_flush


def pytest_unconfigure(config) -> None:
    DatabaseOperations.execute_sql_flush = _original
