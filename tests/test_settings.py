"""Settings read the environment; production refuses to start without a real secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    unset = {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "PSP_SANDBOX_ENABLED", "PAYMENT_GATEWAY_URL",
             "PSP_API_KEY", "PAYMENT_WEBHOOK_SECRET"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="shop.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or not a real secret" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = _manage("check", DEBUG="0", SECRET_KEY="short", ALLOWED_HOSTS="shop.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


PRODUCTION = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "shop.example.com",
    "PAYMENT_GATEWAY_URL": "https://api.psp.example.com/",
    "PSP_API_KEY": "sk_live_example",
    "PAYMENT_WEBHOOK_SECRET": "whsec_live_example",
}


def test_production_refuses_to_start_without_the_payment_provider_configured():
    env = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)}
    del env["PAYMENT_WEBHOOK_SECRET"], env["PSP_API_KEY"]
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "PAYMENT_WEBHOOK_SECRET, PSP_API_KEY" in result.stderr


def test_deploy_check_warns_when_the_payment_sandbox_is_mounted_in_production():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="shop.example.com", PSP_SANDBOX_ENABLED="1",
    )
    assert result.returncode != 0
    assert "shop.W001" in result.stdout + result.stderr


def test_deploy_check_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_migrations_match_models():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


SHOW_EMBEDDED = (
    "from django.conf import settings as s; "
    "print(s.PAYMENT_GATEWAY_URL, s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, "
    "s.CELERY_BROKER_TRANSPORT_OPTIONS.get('data_folder_in'), s.CELERY_BROKER_TRANSPORT_OPTIONS.get('data_folder_out'))"
)


def test_embedded_default_runs_tasks_eagerly_and_charges_the_sandbox_on_port_8000():
    result = _manage("shell", "-c", SHOW_EMBEDDED, CELERY_BROKER_URL="", SITE_URL="", CELERY_TASK_ALWAYS_EAGER="")
    assert result.stdout.strip().splitlines()[-1].split() == ["http://127.0.0.1:8000/psp-sandbox/", "memory://", "True", "None", "None"], (
        result.stdout + result.stderr
    )


def test_runshop_environment_uses_the_filesystem_broker_and_the_sandbox_on_the_address_served(tmp_path):
    """What runshop gives its children: a real broker in one shared folder, the gateway where the shop serves."""
    result = _manage(
        "shell", "-c", SHOW_EMBEDDED,
        CELERY_BROKER_URL="filesystem://", CELERY_TASK_ALWAYS_EAGER="", EMBEDDED_BROKER_DIR=str(tmp_path),
        SITE_URL="http://127.0.0.1:8311",
    )  # fmt: skip
    folder = str(tmp_path / "messages")
    assert result.stdout.strip().splitlines()[-1].split() == ["http://127.0.0.1:8311/psp-sandbox/", "filesystem://", "False", folder, folder], (
        result.stdout + result.stderr
    )
