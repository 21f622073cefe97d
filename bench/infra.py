"""What the benchmark runs against: PostgreSQL, Redis, wrk, gunicorn, its environment and the machine."""

import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import django
import gunicorn

from bench.config import BIN, CORES, OUT, ROOT, WORKERS, log
from bench.load import http_request


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL, got {parts.scheme}://")
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')  # noqa: S608 - name from our own URL, quoted


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def redis_reset(url: str) -> str:
    """Empty the bench's own Redis database (cache, queued tasks of earlier runs); return the version."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.flushdb()
        return client.info("server").get("redis_version", "?")
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when possible; '' means use the Python generator."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_WRK"):
        return "" if os.environ.get("BENCH_NO_WRK") else found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, timeout=300, check=False)  # noqa: S607
        if subprocess.run(["which", "wrk"], capture_output=True, check=False).returncode != 0:  # noqa: S607
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False)  # noqa: S607
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, timeout=300, check=False)  # noqa: S607
    return shutil.which("wrk") or ""


class Gunicorn:
    def __init__(self, env: dict, port: int):
        self.port = port
        self.log_path = OUT / "gunicorn.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            str(BIN / "gunicorn"),
            "shop.wsgi:application",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--env",
            "DJANGO_SETTINGS_MODULE=bench.settings",
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]
        log(f"gunicorn: {WORKERS} sync workers on 127.0.0.1:{port}")
        self.process = subprocess.Popen(  # noqa: S603
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                status, _body = http_request(self.port, "GET", "/healthz")
                if status == 200:
                    if len(self.worker_pids()) >= WORKERS:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"bench: gunicorn not healthy in {timeout} s:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def peak_rss_mib(self) -> dict[int, float]:
        peaks = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                peaks[pid] = int(match.group(1)) / 1024
        return peaks

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def bench_env(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_MANIFEST": "0",
        "PSP_SANDBOX_ENABLED": "1",  # the provider is the sandbox on the same server
        "THROTTLE_ANON": "100000000/min",
        "THROTTLE_USER": "100000000/min",
        "THROTTLE_CHECKOUT": "100000000/min",
        "CACHE_KEY_PREFIX": "bench",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env



def machine(database_url: str, redis_version: str, wrk: str, load_at_start: str) -> dict:
    cpu = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
        wrk_version = (out.stdout + out.stderr).split("\n")[0].strip()
    return {
        "cpu": cpu,
        "cores": CORES,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "postgresql": postgres_version(database_url),
        "redis": redis_version,
        "load generator": wrk_version or "python threads + http.client",
        "load average at start (1/5/15 min)": load_at_start,
    }
