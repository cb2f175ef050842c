"""Settings of the benchmark servers only: the project's settings with ``bench/bench_urls.py`` as
URLconf. Selected by the benches through ``DJANGO_SETTINGS_MODULE``; nothing else refers to it."""

from telehealth.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
