"""Run the whole shop with one command: the web server, and a Celery worker with beat inside it.

Without REDIS_URL the worker and the web server share kombu's filesystem
transport (folders under EMBEDDED_BROKER_DIR), so nothing else has to run:
retries, reservation expiry, the outbox and the nightly reconciliation run as
in production. With REDIS_URL that Redis is the broker. The sandbox provider
and e-mail links follow the address served (SITE_URL, unless it is set).

One Ctrl-C (SIGINT) or SIGTERM stops everything: each child gets one SIGTERM
(a warm shutdown for the worker), and whatever is still alive after
STOP_TIMEOUT seconds is killed with its process group.
"""

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_ADDRPORT = "127.0.0.1:8000"
STOP_TIMEOUT = 30  # seconds a child may take to finish its work after SIGTERM
POLL_SECONDS = 0.5


@dataclass
class Child:
    """One subprocess of runshop, in its own process group."""

    name: str
    process: subprocess.Popen


def addrport_parse(addrport: str) -> tuple[str, int]:
    """Split "8000", "127.0.0.1:8000" or "[::1]:8000" into (host, port)."""
    host, _, port = addrport.rpartition(":")
    if not port.isdigit():
        raise CommandError(f"{addrport!r} is not a port or address:port")
    return host or DEFAULT_ADDRPORT.split(":")[0], int(port)


def site_url_for(host: str, port: int) -> str:
    """The URL other processes reach the server at: a wildcard bind is reached on the loopback."""
    reachable = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}.get(host, host)  # noqa: S104
    return f"http://{reachable}:{port}"


def children_env(site_url: str) -> dict[str, str]:
    """The children's environment: tasks go to a real worker, on the embedded broker without Redis."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CELERY_TASK_ALWAYS_EAGER": "0"}
    env.setdefault("SITE_URL", site_url)
    if not settings.REDIS_URL and not env.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = "filesystem://"
        env["EMBEDDED_BROKER_DIR"] = str(settings.EMBEDDED_BROKER_DIR)
    return env


def embedded_broker_prepare() -> None:
    """Make the filesystem transport's folders (kombu expects them to exist)."""
    for name in ("messages", "control", "processed"):
        (settings.EMBEDDED_BROKER_DIR / name).mkdir(parents=True, exist_ok=True)


class Command(BaseCommand):
    help = "Serve the shop and run a Celery worker with beat beside it; Ctrl-C stops all of it."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default=DEFAULT_ADDRPORT, help="address:port to serve on")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")

    def handle(self, *args, addrport: str, concurrency: int, **options):
        host, port = addrport_parse(addrport)
        env = children_env(site_url_for(host, port))
        if env.get("CELERY_BROKER_URL") == "filesystem://":
            embedded_broker_prepare()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        children = [
            self._start(
                "web", [sys.executable, "manage.py", "runserver", "--noreload", f"{host}:{port}"], env
            ),
            self._start("worker", self._worker_command(concurrency), env),
        ]
        self.stdout.write(
            f"runshop: serving {site_url_for(host, port)}/ with a worker and beat; Ctrl-C stops all."
        )
        exited = self._wait(children, stop)
        self._stop(children)
        if exited is not None:
            raise CommandError(f"{exited.name} exited with {exited.process.returncode}; stopped the others")
        self.stdout.write("runshop: stopped.")

    @staticmethod
    def _worker_command(concurrency: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "shop", "worker", "--beat",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--loglevel=INFO", f"--concurrency={concurrency}",
            # Remote control and events are not used; without them the embedded broker stays quiet.
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    @staticmethod
    def _start(name: str, command: list[str], env: dict[str, str]) -> Child:
        # Its own process group: a terminal's Ctrl-C reaches runshop only, which then stops each
        # child exactly once (a second SIGINT would make the worker abandon its tasks).
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)  # noqa: S603
        return Child(name, process)

    @staticmethod
    def _wait(children: list[Child], stop: threading.Event) -> Child | None:
        """Block until a signal (None) or until one child exits on its own (that child)."""
        while not stop.wait(POLL_SECONDS):
            for child in children:
                if child.process.poll() is not None:
                    return child
        return None

    def _stop(self, children: list[Child]) -> None:
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"runshop: {child.name} did not stop within {STOP_TIMEOUT} s; killed")
            try:  # whatever the child left behind in its group (pool processes, embedded beat)
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.process.wait()
