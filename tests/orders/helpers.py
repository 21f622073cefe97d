from catalog.models import Stock
from payments.selectors import ledger_unbalanced_transactions, wallets_with_wrong_cached_balance


def stock_of(product) -> tuple[int, int]:
    """(on_hand, reserved) read from the database."""
    row = Stock.objects.get(product_id=product.id)
    return row.on_hand, row.reserved


def assert_ledger_balanced() -> None:
    assert not ledger_unbalanced_transactions().exists()
    assert wallets_with_wrong_cached_balance() == []


class BrokenEmailBackend:
    """An e-mail backend whose server is down."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionError("SMTP down")
