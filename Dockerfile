# syntax=docker/dockerfile:1
# One image for every process: web (daphne, the default CMD), Celery worker and Celery beat.
# See docker-compose.yml for how they are run together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged user that runs the app. The code stays owned by root, so the app cannot rewrite it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so editing code does not reinstall them. Every pin ships manylinux wheels,
# so no compiler is needed.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files are collected into the image (served by WhiteNoise). The settings refuse to load with
# DEBUG off and no real SECRET_KEY/ALLOWED_HOSTS, so this one step gets throwaway values; they are
# not kept in the image's environment.
RUN DEBUG=false \
    SECRET_KEY=collectstatic-build-only-not-a-real-secret \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
    && chmod 0755 docker/entrypoint.sh \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

# Uploaded documents: mount a volume here (docker-compose.yml does) so they outlive the container.
ENV MEDIA_ROOT=/app/var/media

USER app

EXPOSE 8000

# Runs `manage.py migrate` first when RUN_MIGRATIONS=true, then the command.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "asgi:application"]
