"""Demo data: the demo shopper gets a USD wallet holding 500.00, posted through the ledger."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from djmoney.money import Money

from payments.models import LedgerTransaction, Wallet
from payments.services.wallets import wallet_demo_credit, wallet_open

DEMO_EMAIL = "shopper@example.com"
DEMO_REFERENCE = "demo:wallet:shopper:USD"


def load(*, stdout) -> None:
    """Idempotent: the wallet is opened once and the deposit's reference posts once."""
    user = get_user_model().objects.filter(email__iexact=DEMO_EMAIL).first()
    if user is None:
        stdout.write(f"payments.demo: no {DEMO_EMAIL}; run accounts.demo first.\n")
        return
    wallet = Wallet.objects.filter(user=user, currency="USD").first()
    if wallet is None:
        wallet = wallet_open(user=user, currency="USD")
    if not LedgerTransaction.objects.filter(reference=DEMO_REFERENCE).exists():
        wallet_demo_credit(wallet_id=wallet.pk, amount=Money(Decimal("500.00"), "USD"), reference=DEMO_REFERENCE)
    wallet.refresh_from_db()
    stdout.write(f"payments.demo: {DEMO_EMAIL} has a USD wallet with {wallet.balance_money}.\n")
