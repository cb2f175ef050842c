#!/bin/sh
# Container entrypoint: optionally apply migrations, then run the given command (daphne by default).
# Set RUN_MIGRATIONS=true on exactly one service (the web service in docker-compose.yml) so that
# several containers never migrate at once.
set -eu

case "${RUN_MIGRATIONS:-false}" in
    true | 1 | yes | on)
        echo "entrypoint: applying database migrations" >&2
        python manage.py migrate --noinput
        ;;
    false | 0 | no | off | "")
        ;;
    *)
        echo "entrypoint: RUN_MIGRATIONS must be true or false, got '${RUN_MIGRATIONS}'" >&2
        exit 64
        ;;
esac

exec "$@"
