"""A real Celery worker and beat (subprocesses) over Redis settle the shop's background work."""

from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from djmoney.money import Money

from accounts.models import User
from payments.models import IdempotencyKey, LedgerTransaction, Payment, Wallet
from payments.psp_sandbox.models import SandboxCharge
from payments.services import wallets
from payments.tasks import prune_idempotency_keys

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SETTLE_TIMEOUT = 60


def _verified_user(email: str) -> User:
    user = User.objects.create_user(email=email, password="Corr3ct-Horse-Battery")
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def test_real_worker_runs_a_task_sent_over_redis(celery_worker, wait_until):
    """A task sent with .delay() is executed by the worker process, which commits to the shared database."""
    user = _verified_user("prune@example.com")
    old = IdempotencyKey.objects.create(user=user, key="old", scope="test", fingerprint="f")
    fresh = IdempotencyKey.objects.create(user=user, key="fresh", scope="test", fingerprint="f")
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))

    prune_idempotency_keys.delay()

    wait_until(
        lambda: not IdempotencyKey.objects.filter(pk=old.pk).exists(),
        timeout=SETTLE_TIMEOUT,
        what="the worker to prune the old idempotency key",
    )
    assert IdempotencyKey.objects.filter(pk=fresh.pk).exists()
    assert "payments.tasks.prune_idempotency_keys" in celery_worker.log()


def test_beat_and_worker_settle_a_stuck_card_deposit_end_to_end(celery_worker, celery_beat, wait_until):
    """A deposit whose charge timed out (outcome unknown) is settled by beat -> retry_stuck_payments -> worker:
    succeeded, charged once at the provider, one ledger transaction, the wallet credited once."""
    user = _verified_user("stuck@example.com")
    wallet = wallets.wallet_open(user=user, currency="USD")

    # tok_timeout: the sandbox charges, then answers after our read timeout -> we cannot know.
    payment = wallets.wallet_deposit(
        wallet_id=wallet.pk, amount=Money(Decimal("25.00"), "USD"), card_token="tok_timeout", user=user
    )
    assert payment.status == Payment.Status.UNKNOWN, (payment.status, payment.last_error_code)
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert not LedgerTransaction.objects.filter(reference=payment.ledger_reference).exists()
    wallet.refresh_from_db()
    assert wallet.balance == 0

    # The backoff has elapsed, and the minute-ly beat entry is due now rather than in a minute.
    Payment.objects.filter(pk=payment.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.update_or_create(
        name="retry-stuck-payments",
        defaults={
            "task": "payments.tasks.retry_stuck_payments",
            "interval": every_minute,
            "last_run_at": timezone.now() - timedelta(minutes=5),
        },
    )
    beat = celery_beat()

    settled = wait_until(
        lambda: Payment.objects.filter(pk=payment.pk, status=Payment.Status.SUCCEEDED).first(),
        timeout=SETTLE_TIMEOUT,
        what=f"the stuck payment to be settled\n--- beat ---\n{beat.log()}\n--- worker ---\n{celery_worker.log()}",
    )

    assert "payments.tasks.retry_stuck_payments" in beat.log()
    assert "payments.tasks.retry_stuck_payments" in celery_worker.log()
    assert settled.provider_charge_id
    # Asked the provider first (lookup) and found the charge: never charged twice.
    assert SandboxCharge.objects.filter(idempotency_key=payment.provider_key).count() == 1
    assert settled.attempts.filter(kind="lookup", outcome="succeeded").exists()
    assert LedgerTransaction.objects.filter(reference=payment.ledger_reference).count() == 1
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("25.00")
