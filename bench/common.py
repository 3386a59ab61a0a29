"""Helpers shared by the benchmarks: a scratch PostgreSQL database, gunicorn, a load loop."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def scratch_database(name: str) -> str:
    """Drop and create a database for one benchmark run; returns its URL."""
    import psycopg2

    connection = psycopg2.connect(PG + "/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return f"{PG}/{name}"


def setup_django(database_url: str, **env) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DJANGO_DEBUG is false here as in production, which needs a key; gunicorn and workers inherit it.
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-key-" + "n0t-for-real-data-" * 3)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_gunicorn(database_url: str, *, port: int, workers: int = 2, env: dict | None = None) -> subprocess.Popen:
    environment = os.environ | {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)} | (env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health/")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def load(port: int, path: str, headers: dict, *, seconds: float, concurrency: int = 4) -> float:
    """Requests per second for GETs of `path`, each client on a keep-alive connection."""
    stop_at = time.monotonic() + seconds
    counts = [0] * concurrency
    failures: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(f"{path}: {response.status}")
                return
            counts[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return sum(counts) / (time.monotonic() - started)


def median(values):
    return statistics.median(values)
