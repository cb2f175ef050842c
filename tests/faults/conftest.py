"""The live fixtures (daphne, Celery workers, consultation rooms), shared with ``tests/live``."""

from tests.live.conftest import (  # noqa: F401 - fixtures
    _migrated_sqlite_template,
    live_database_env,
    live_room,
    room_server_env,
    start_celery_worker,
    start_daphne,
    start_room_servers,
)
