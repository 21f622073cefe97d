"""`make run`'s embedded default runs the whole shop: web, worker and beat on a broker that needs no server.

Nothing is mocked and nothing is shared with the test run: in a temporary
folder, a fresh SQLite database is migrated, a shopper is made, and
`manage.py runshop` is started as `make run` starts it (its own process
group, no REDIS_URL). A card deposit whose charge times out at the sandbox
(`tok_timeout`) must then settle by itself: the sandbox's webhooks are off,
so only beat -> retry_stuck_payments -> the worker can settle it. One SIGINT
must stop every process runshop started.

Ports: a free one chosen by the OS, or one from TEST_PORT_RANGE ("8170-8179")
when the machine reserves ranges per user.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90  # seconds for web, worker and beat to come up on two busy cores
SETTLE_TIMEOUT = 90
STOP_TIMEOUT = 60
EMAIL, PASSWORD = "runshop@example.com", "Corr3ct-Horse-Battery"

MAKE_SHOPPER = f"""
from allauth.account.models import EmailAddress
from accounts.models import User
user = User.objects.create_user(email={EMAIL!r}, password={PASSWORD!r})
EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
"""


def _free_port() -> int:
    low, _, high = os.environ.get("TEST_PORT_RANGE", "0-0").partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise AssertionError(f"no free port in TEST_PORT_RANGE={os.environ['TEST_PORT_RANGE']}")


def _descendants(root: int) -> set[int]:
    """Every live process below `root`, from /proc's parent links."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(predicate, *, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}\n--- runshop ---\n{log.read_text()}"
    )


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    """The embedded default in a temporary folder: SQLite file, filesystem broker, fast sweeps and retries."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "DJANGO_", "PAYMENT_", "PSP_", "SITE_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        EMBEDDED_BROKER_DIR=str(tmp_path / "broker"),
        MEDIA_ROOT=str(tmp_path / "media"),
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
        # A sweep every 2 s and a first backoff of about a second, instead of a minute and 30 s.
        BEAT_SWEEP_SECONDS="2",
        PAYMENT_RETRY_BASE_SECONDS="1",
        PAYMENT_READ_TIMEOUT="1",
        # The outcome must come from the worker's retry, not from the sandbox's webhook.
        PSP_SANDBOX_WEBHOOKS_ENABLED="0",
        PYTHONUNBUFFERED="1",
    )
    for args in (["migrate", "--noinput"], ["shell", "-c", MAKE_SHOPPER]):
        result = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return env


@pytest.fixture
def runshop(embedded_env, tmp_path):
    """`manage.py runshop 127.0.0.1:<port>` as `make run` starts it; killed (its group) if the test fails."""
    port = _free_port()
    log = tmp_path / "runshop.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runshop", f"127.0.0.1:{port}"],
            cwd=ROOT, env=embedded_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: _healthy(url) and " ready." in log.read_text(),
            timeout=START_TIMEOUT,
            what="runshop",
            log=log,
        )
        yield {
            "process": process,
            "url": url,
            "log": log,
            "db": embedded_env["DATABASE_URL"][len("sqlite:///") :],
        }
    finally:
        if process.poll() is None:
            for pid in [process.pid, *_descendants(process.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _api(url: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"X-Session-Token": token, **kwargs.pop("headers", {})}
    return requests.request(method, f"{url}{path}", headers=headers, timeout=30, **kwargs)


def test_runshop_settles_a_timed_out_card_deposit_with_no_staff_action_and_stops_on_one_sigint(runshop):
    """The schedule is in the database from the first start; a `tok_timeout` deposit answered 202 `unknown`
    is settled by the embedded worker and beat alone; one SIGINT stops web, worker, pool and beat."""
    url, log = runshop["url"], runshop["log"]
    with sqlite3.connect(runshop["db"]) as db:
        scheduled = {name for (name,) in db.execute("SELECT name FROM django_celery_beat_periodictask")}
    assert set(settings.CELERY_BEAT_SCHEDULE) <= scheduled

    login = requests.post(
        f"{url}/_allauth/app/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    token = login.json()["meta"]["session_token"]
    wallet = _api(url, token, "POST", "/api/v1/wallets/", json={"currency": "USD"})
    assert wallet.status_code == 201, wallet.text
    wallet_id = wallet.json()["id"]

    deposit = _api(
        url, token, "POST", f"/api/v1/wallets/{wallet_id}/deposits/",
        json={"amount": {"amount": "25.00", "currency": "USD"}, "card_token": "tok_timeout"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    # The charge went to the sandbox on the address served (not a fixed :8000) and timed out.
    assert deposit.status_code == 202, deposit.text
    payment = deposit.json()
    assert payment["status"] == "unknown" and payment["last_error_code"] == "timeout", payment

    settled = _wait(
        lambda: (body := _api(url, token, "GET", f"/api/v1/payments/{payment['id']}/").json())["status"]
        == "succeeded" and body,
        timeout=SETTLE_TIMEOUT, what="the deposit to settle", log=log,
    )  # fmt: skip
    assert settled["attempt_count"] >= 2  # the charge, then the worker's look-up
    balance = _api(url, token, "GET", f"/api/v1/wallets/{wallet_id}/").json()["balance"]
    assert balance == {"amount": "25.00", "currency": "USD"}, balance
    assert "payments.tasks.retry_stuck_payments" in log.read_text()

    process = runshop["process"]
    children = _descendants(process.pid)
    assert len(children) >= 4, children  # web, worker, its pool and beat
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=STOP_TIMEOUT) == 0, log.read_text()
    _wait(
        lambda: not [pid for pid in children if _alive(pid)], timeout=10, what="every child to exit", log=log
    )
    assert "did not stop within" not in log.read_text()
