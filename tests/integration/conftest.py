"""A real Celery worker and beat, as subprocesses, against the test database and Redis.

The subprocesses get the same environment as the test run, with DATABASE_URL
pointing at the live test database (pytest-django's `test_<name>`), so they
see what the test commits (`transaction=True`) and the test sees what they
commit. The payment provider is the sandbox on `live_server`. Processes are
killed (their whole process group) when the test ends, pass or fail.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
START_TIMEOUT = 60  # seconds a worker or beat may take to come up on two busy cores


def _database_url() -> str:
    db = settings.DATABASES["default"]
    # Exactly the database this test session is using (test_<name> under pytest-django).
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


class CeleryProcess:
    """One `celery -A shop <command>` subprocess with its log in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own celery binary, fixed arguments
            [CELERY, "-A", "shop", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills the pool children too
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"celery {self.name} exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.25)
        raise AssertionError(f"celery {self.name} did not log {text!r} within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture
def celery_env(live_server, settings, tmp_path):
    """Environment for worker/beat: the live test database, this run's Redis, the sandbox on live_server."""
    if not settings.IS_POSTGRES or not settings.REDIS_URL:
        pytest.skip("a real worker needs PostgreSQL (shared test database) and Redis (broker)")
    settings.PAYMENT_GATEWAY_URL = live_server.url + "/psp-sandbox/"
    # Short provider timeouts keep a tok_timeout charge (answer after read timeout + 1 s) quick.
    settings.PAYMENT_READ_TIMEOUT = 1.0
    # Outcomes must reach us through the worker, not through the sandbox's webhooks.
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PAYMENT_GATEWAY_URL": settings.PAYMENT_GATEWAY_URL,
        "PAYMENT_CONNECT_TIMEOUT": str(settings.PAYMENT_CONNECT_TIMEOUT),
        "PAYMENT_READ_TIMEOUT": str(settings.PAYMENT_READ_TIMEOUT),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    # The test database must be committed-visible to other processes.
    assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
    return env


@pytest.fixture
def celery_worker(celery_env, tmp_path):
    """A real `celery -A shop worker` (prefork, one child) consuming this run's Redis, ready to take tasks."""
    from shop.celery import app

    # Messages left in this Redis database by an earlier, interrupted run must not reach the new worker.
    app.control.purge()
    worker = CeleryProcess(
        "worker",
        [
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
        ],
        celery_env,
        tmp_path,
    )
    try:
        worker.wait_for(" ready.")
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_beat(celery_env, tmp_path):
    """Starts a real `celery -A shop beat` with django-celery-beat's database scheduler, on demand.

    A factory, so that a test can first put the schedule rows it needs in the
    database (beat reads them at start-up), then call `celery_beat()`.
    """
    started = []

    def start() -> CeleryProcess:
        beat = CeleryProcess(
            "beat",
            [
                "beat",
                "--loglevel=INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile",
                str(tmp_path / "beat.pid"),
                "--schedule",
                str(tmp_path / "celerybeat-schedule"),
            ],
            celery_env,
            tmp_path,
        )
        started.append(beat)
        beat.wait_for("beat: Starting")
        return beat

    try:
        yield start
    finally:
        for beat in started:
            beat.stop()


@pytest.fixture
def wait_until():
    """`wait_until(predicate, timeout=..., what=...)`: poll until truthy, fail after the timeout."""

    def wait(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    return wait
