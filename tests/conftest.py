"""Shared fixtures: centres, a user per role, API clients, and the real services harness.

Integration tests (marker `integration`) need PostgreSQL, Redis and a Celery worker. Outside
CI they are skipped when those are absent; with CI=true a missing service is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from core.audit import Actor
from core.roles import Role
from tests.factories import CentreFactory, DonorFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Queue names of this test run: a message left on the broker by an earlier, aborted run (and
# handed back by Redis after its visibility timeout) never reaches this run's workers.
RUN_ID = uuid.uuid4().hex[:8]


def run_queue(name: str) -> str:
    return f"{name}-{RUN_ID}"


@pytest.fixture(scope="session", autouse=True)
def _queues_of_this_run():
    from celery import current_app

    previous = current_app.conf.task_default_queue, current_app.conf.task_heavy_queue
    current_app.conf.task_default_queue = run_queue(previous[0])
    current_app.conf.task_heavy_queue = run_queue(previous[1])
    yield
    current_app.conf.task_default_queue, current_app.conf.task_heavy_queue = previous


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_broker = settings.CELERY_BROKER_URL.startswith("redis")
    if on_postgres and has_broker:
        return
    reason = "integration tests need DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)"
    wanted = [item for item in items if item.get_closest_marker("integration")]
    if wanted and IN_CI:
        raise pytest.UsageError(f"CI=true: {reason}; refusing to skip {len(wanted)} integration tests")
    for item in wanted:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def centre(db):
    return CentreFactory(name="Home Centre", code="home")


@pytest.fixture
def other_centre(db):
    return CentreFactory(name="Other Centre", code="other")


@pytest.fixture
def make_user(centre):
    def make(*roles: str, centre_obj=None, **kwargs):
        return UserFactory(centre=centre_obj or centre, roles=list(roles), **kwargs)

    return make


@pytest.fixture
def users(make_user):
    """One user per role in the home centre."""
    return {role.value: make_user(role.value, username=f"{role.value}-user") for role in Role}


@pytest.fixture
def actor_for():
    def make(user, channel="page"):
        return Actor(user=user, channel=channel, ip_address="10.1.2.3")

    return make


@pytest.fixture
def donor(centre):
    return DonorFactory(centre=centre)


@pytest.fixture
def foreign_donor(other_centre):
    return DonorFactory(centre=other_centre)


@pytest.fixture
def api_as():
    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


# --- the real Celery worker ---------------------------------------------------------------


def _database_url_for_worker() -> str:
    from django.db import connection

    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_environment(*, default_queue: str, heavy_queue: str, extra_env: dict | None = None) -> dict:
    """The environment of a web or worker process of the app: the test database (committed data
    only: the tests that start one use transaction=True), this run's broker and queues."""
    from django.conf import settings

    return (
        os.environ
        | {
            "CELERY_TASK_DEFAULT_QUEUE": default_queue,
            "CELERY_TASK_HEAVY_QUEUE": heavy_queue,
            "DATABASE_URL": _database_url_for_worker(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONPATH": str(ROOT),
        }
        | (extra_env or {})
    )


def _log_file(prefix: str) -> Path:
    import tempfile

    # The process writes to its own copy of the descriptor; the file stays (delete=False) for the error messages.
    with tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False) as log:
        return Path(log.name)


def start_worker(
    *,
    concurrency: int = 1,
    pool: str = "prefork",
    queue: str | None = None,
    extra_env: dict | None = None,
    name: str | None = None,
) -> subprocess.Popen:
    """Start `celery worker` against the test database and return once it answers a ping.

    By default it consumes both queues of this run (interactive and heavy); with `queue`, only
    that one, which then carries every task the worker itself sends. A worker given a `name`
    (its node name) also consumes a queue of its own, where it answers the ping: with several
    workers on the same queues, each is known to be up. Its log is at `process.log_path`.
    """
    process = launch_worker(concurrency=concurrency, pool=pool, queue=queue, extra_env=extra_env, name=name)
    wait_until_up(process)
    return process


def _spawn(module_args: list[str], *, env: dict, log_prefix: str) -> subprocess.Popen:
    """`python -m <module_args>` in its own process group, its output in a log file (`process.log_path`)."""
    log_path = _log_file(log_prefix)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.log_path = log_path  # type: ignore[attr-defined]
    return process


def launch_worker(
    *,
    concurrency: int = 1,
    pool: str = "prefork",
    queue: str | None = None,
    queues: tuple[str, str] | None = None,
    extra_env: dict | None = None,
    name: str | None = None,
) -> subprocess.Popen:
    """start_worker without the wait: several processes start at once, then `wait_until_up`.

    `queues` (interactive, heavy) gives the processes queues of their own, apart from the session's worker."""
    from celery import current_app

    if queues is not None:
        queue, heavy = queues
        consumes = f"{queue},{heavy}"
    elif queue is None:
        queue, heavy = current_app.conf.task_default_queue, current_app.conf.task_heavy_queue
        consumes = f"{queue},{heavy}"
    else:
        heavy = consumes = queue
    ready_queue = queue
    naming: list[str] = []
    if name is not None:
        ready_queue = run_queue(f"node-{name}")
        consumes = f"{consumes},{ready_queue}"
        naming = ["-n", f"{name}-{RUN_ID}@%h"]
    env = process_environment(default_queue=queue, heavy_queue=heavy, extra_env=extra_env)
    process = _spawn(
        [
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "-Q",
            consumes,
            *naming,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        log_prefix="celery-worker-",
    )
    process.ready_queue = ready_queue  # type: ignore[attr-defined]
    return process


def launch_web(*, queues: tuple[str, str] | None = None, extra_env: dict | None = None) -> subprocess.Popen:
    """The app under gunicorn on a free loopback port (`process.url`), against the test database
    and this run's queues (or `queues`: interactive, heavy); `wait_until_up` waits for its /health/.
    Its log is at `process.log_path`."""
    from celery import current_app

    default_queue, heavy_queue = queues or (current_app.conf.task_default_queue, current_app.conf.task_heavy_queue)
    env = process_environment(default_queue=default_queue, heavy_queue=heavy_queue, extra_env=extra_env)
    port = free_port()
    process = _spawn(
        [
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--log-level",
            "warning",
        ],
        env=env,
        log_prefix="gunicorn-",
    )
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return process


def wait_until_up(*processes: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until each launched worker answers a ping on its queue and each web its /health/;
    stops them all and fails with the log of the first that does not."""
    import http.client

    from donors.tasks import ping

    deadline = time.monotonic() + seconds
    for process in processes:
        log_path: Path = process.log_path  # type: ignore[attr-defined]
        url = getattr(process, "url", None)
        while True:
            if process.poll() is not None:
                stop_worker(*processes)
                raise RuntimeError(f"{process.args[2]} exited: " + log_path.read_text()[-2000:])
            try:
                if url is None:
                    answer = ping.apply_async(args=["ready"], queue=process.ready_queue)  # type: ignore[attr-defined]
                    if answer.get(timeout=5) == "pong:ready":
                        break
                else:
                    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=2)
                    connection.request("GET", "/health/")
                    if connection.getresponse().status == 200:
                        break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.3)
            if time.monotonic() > deadline:
                stop_worker(*processes)
                raise RuntimeError(
                    f"{process.args[2]} did not answer in {seconds:.0f} s: " + log_path.read_text()[-2000:]
                )


def stop_worker(*processes: subprocess.Popen, kill: bool = False) -> None:
    """Stop processes started here (workers, gunicorn) and their children, all at once."""
    import signal

    running = [process for process in processes if process.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real worker process on Redis and the PostgreSQL test database, for the whole session."""
    from celery import current_app

    current_app.control.purge()
    process = start_worker()
    yield process
    stop_worker(process)


@pytest.fixture
def eager_tasks():
    """Run queued tasks in-process for this test (the broker may be configured)."""
    from celery import current_app

    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


def anatomy_case(name: str) -> dict:
    import json

    return json.loads((ROOT / "tests" / "data" / "cases" / f"{name}.json").read_text())
