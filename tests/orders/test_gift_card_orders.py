"""Gift cards at checkout, on cancellation and refunds, sold as a product, and in reconciliation."""

import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from djmoney.money import Money

from catalog.models import Product
from payments.exceptions import InsufficientFunds
from payments.models import (
    GiftCard,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    ReconciliationItem,
    Wallet,
)
from payments.reconciliation.items import ItemWriter
from payments.reconciliation.ledger import check_ledger
from payments.selectors import (
    gift_card_get_by_code,
    gift_cards_with_wrong_cached_balance,
    ledger_unbalanced_transactions,
)
from payments.services.gift_cards import gift_card_issue
from payments.services.ledger import ledger_system_account
from shop.cart.gift_cards import cart_gift_card_apply
from shop.cart.models import CartGiftCard
from shop.core.exceptions import InvalidTransition
from shop.orders.models import Invoice, InvoiceKind, Order, OrderGiftCard, OrderGiftCardRefund, OutboxEmail
from shop.orders.reconciliation import order_components_problems
from shop.orders.services.checkout import (
    _address_snapshot,
    _order_place_atomic,
    _Pricing,
    checkout_lines,
    order_place,
)
from shop.orders.services.gift_cards import (
    order_gift_cards_issue,
    order_gift_cards_release,
    order_refund_pay_back,
)
from shop.orders.services.transitions import order_cancel, order_refund
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


def issue(amount="15.00"):
    return gift_card_issue(
        amount=usd(amount), source=GiftCard.Source.STAFF, issue_reference=f"test:{uuid.uuid4()}"
    )


def apply(user, *issued):
    for one in issued:
        cart_gift_card_apply(user=user, code=one.code, currency="USD", attempt_keys=[f"user:{user.pk}"])


def place(user, method="wallet", **kwargs):
    return order_place(
        user=user,
        payment_method=method,
        currency="USD",
        shipping_method=shipping_method_everywhere(),
        shipping_address=user.addresses.first().pk,
        **kwargs,
    )


def balance(issued) -> Decimal:
    return GiftCard.objects.get(pk=issued.card.pk).balance


def ledger_sound():
    return not ledger_unbalanced_transactions().exists() and gift_cards_with_wrong_cached_balance() == []


def test_gift_cards_pay_first_and_the_wallet_pays_the_rest(shopper, product):
    cart_fill(shopper, (product, 2))  # 20.00
    card = issue("15.00")
    apply(shopper, card)
    order = place(shopper, expected_total=usd("5.00")).order
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert (order.gift_card_total, order.total) == (usd("15.00"), usd("5.00"))
    use = order.gift_card_uses.get()
    assert (use.gift_card_id, use.last4, use.amount) == (card.card.pk, card.card.last4, usd("15.00"))
    assert balance(card) == Decimal("0.00")
    assert Payment.objects.get(reference=order.number).amount == usd("5.00")
    assert Wallet.objects.get(user=shopper).balance == Decimal("95.00")
    assert LedgerTransaction.objects.filter(
        reference=f"giftcard:{card.card.pk}:spend:{order.number}"
    ).exists()
    assert not CartGiftCard.objects.filter(cart__user=shopper).exists()  # the order took them
    assert (
        order_components_problems(Order.objects.prefetch_related("lines", "gift_card_uses").get(pk=order.pk))
        == []
    )
    assert ledger_sound()


def test_gift_cards_that_cover_the_order_leave_nothing_to_pay_and_no_payment(shopper, product):
    cart_fill(shopper, (product, 2))
    first, second = issue("5.00"), issue("30.00")
    apply(shopper, first, second)
    result = place(shopper, expected_total=usd("0.00"))
    order = Order.objects.get(pk=result.order.pk)
    assert result.outcome == "paid" and order.status == Order.Status.PAID and order.paid_at is not None
    assert order.total == usd("0.00") and order.payment_id is None and not Payment.objects.exists()
    assert [(u.last4, u.amount) for u in order.gift_card_uses.all()] == [
        (first.card.last4, usd("5.00")),
        (second.card.last4, usd("15.00")),
    ]
    assert (balance(first), balance(second)) == (Decimal("0.00"), Decimal("15.00"))
    assert Wallet.objects.get(user=shopper).balance == Decimal("100.00")
    assert Invoice.objects.filter(order=order, kind=InvoiceKind.INVOICE).exists()
    assert ledger_sound()


def test_the_confirmed_total_is_what_is_charged_with_gift_cards(shopper, product):
    from shop.orders.exceptions import PriceChanged

    cart_fill(shopper, (product, 2))
    apply(shopper, issue("15.00"))
    with pytest.raises(PriceChanged) as changed:
        place(shopper, expected_total=usd("20.00"))  # what the cart cost before the card
    assert changed.value.extra["totals"]["gift_card_total"] == {"amount": "15.00", "currency": "USD"}
    assert not Order.objects.exists()


def test_a_wallet_too_low_for_the_rest_undoes_the_gift_card_spend(product):
    shopper = shopper_new(funds="1.00")
    cart_fill(shopper, (product, 2))
    card = issue("10.00")
    apply(shopper, card)
    with pytest.raises(InsufficientFunds):
        place(shopper)
    assert balance(card) == Decimal("10.00")
    assert not Order.objects.exists() and not OrderGiftCard.objects.exists()
    assert CartGiftCard.objects.filter(cart__user=shopper).count() == 1
    assert ledger_sound()


def _pending_card_order(user, product, *cards):
    """An order placed by card whose provider call has not happened yet (the state between checkout's
    transaction and the charge): its gift cards already spent."""
    cart_fill(user, (product, 2))
    apply(user, *cards)
    address = _address_snapshot(user=user, shipping_address=user.addresses.first().pk)
    pricing = _Pricing(
        currency="USD",
        address=address,
        voucher_code="",
        shipping_method=shipping_method_everywhere(),
        expected_total=None,
    )
    order, _payment = _order_place_atomic(
        user=user,
        currency="USD",
        method="card",
        address=address,
        lines=checkout_lines(user=user, currency="USD"),
        checkout_token="",
        card_token="tok_ok",
        by_wallet=False,
        pricing=pricing,
    )
    return Order.objects.get(pk=order.pk)


def test_cancelling_before_capture_gives_the_gift_cards_their_money_back_once(shopper, product):
    card = issue("15.00")
    order = _pending_card_order(shopper, product, card)
    assert balance(card) == Decimal("0.00")
    order_cancel(order_id=order.pk, actor=shopper, reason="changed my mind")
    assert balance(card) == Decimal("15.00")
    use = OrderGiftCard.objects.get(order=order)
    assert use.refunded == usd("15.00")
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=order.pk)
    assert order_gift_cards_release(Order.objects.get(pk=order.pk)) == usd("0.00")  # a replay gives nothing
    assert balance(card) == Decimal("15.00")
    assert OrderGiftCardRefund.objects.filter(use=use).count() == 1
    assert ledger_sound()


def test_a_declined_card_gives_the_gift_card_money_back_and_puts_the_card_on_the_cart(psp):
    shopper, product = shopper_new(), make_product(price="10.00", on_hand=10)
    cart_fill(shopper, (product, 2))
    card = issue("15.00")
    apply(shopper, card)
    declined = place(shopper, method="card", card_token="tok_declined")
    assert declined.outcome == "declined"
    assert Order.objects.get(pk=declined.order.pk).status == Order.Status.CANCELLED
    assert balance(card) == Decimal("15.00")
    assert list(CartGiftCard.objects.filter(cart__user=shopper).values_list("gift_card_id", flat=True)) == [
        card.card.pk
    ]
    paid = place(shopper, method="card", card_token="tok_ok")
    assert paid.outcome == "paid" and balance(card) == Decimal("0.00")
    assert Payment.objects.get(reference=paid.order.number).amount == usd("5.00")
    assert ledger_sound()


def test_a_full_refund_goes_to_the_gift_card_first_then_the_wallet(shopper, product):
    cart_fill(shopper, (product, 2))
    card = issue("15.00")
    apply(shopper, card)
    order = place(shopper).order
    order_refund(order_id=order.pk, reason="changed my mind")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert balance(card) == Decimal("15.00")
    assert Wallet.objects.get(user=shopper).balance == Decimal("100.00")
    assert order.refunded_total == usd("5.00") and order.gift_card_uses.get().refunded == usd("15.00")
    credit_note = Invoice.objects.get(order=order, kind=InvoiceKind.CREDIT_NOTE)
    assert credit_note.total == usd("20.00")  # the whole sum, both ways
    with pytest.raises(InvalidTransition):
        order_refund(order_id=order.pk)
    assert balance(card) == Decimal("15.00")
    assert ledger_sound()


def test_partial_refunds_fill_the_gift_cards_first_and_replays_refund_once(shopper, product):
    cart_fill(shopper, (product, 2))
    first, second = issue("6.00"), issue("6.00")
    apply(shopper, first, second)
    order = place(shopper).order  # cards 6.00 + 6.00, wallet 8.00
    order_refund_pay_back(
        order_id=order.pk, amount=usd("10.00"), reference=f"{order.number}-staff-1", reason="x"
    )
    assert (balance(first), balance(second)) == (Decimal("6.00"), Decimal("4.00"))
    assert Wallet.objects.get(user=shopper).balance == Decimal("92.00")
    order_refund_pay_back(
        order_id=order.pk, amount=usd("10.00"), reference=f"{order.number}-staff-1", reason="x"
    )
    assert (balance(first), balance(second)) == (Decimal("6.00"), Decimal("4.00"))  # the same refund: once
    order_refund_pay_back(
        order_id=order.pk, amount=usd("5.00"), reference=f"{order.number}-staff-2", reason="y"
    )
    assert balance(second) == Decimal("6.00")
    assert Wallet.objects.get(user=shopper).balance == Decimal(
        "95.00"
    )  # 2.00 to the card, 3.00 to the wallet
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.refunded_total == usd("3.00")
    order_refund(order_id=order.pk)  # the rest: 5.00, all to the wallet
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert Wallet.objects.get(user=shopper).balance == Decimal("100.00")
    assert ledger_sound()


def test_an_order_paid_only_by_gift_card_is_refunded_to_the_card(shopper, product):
    cart_fill(shopper, (product, 1))
    card = issue("25.00")
    apply(shopper, card)
    order = place(shopper).order
    order_refund(order_id=order.pk, reason="damaged")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and balance(card) == Decimal("25.00")
    assert Invoice.objects.get(order=order, kind=InvoiceKind.CREDIT_NOTE).total == usd("10.00")
    assert OutboxEmail.objects.filter(order=order, kind=OutboxEmail.Kind.ORDER_REFUNDED).count() == 1
    assert ledger_sound()


def test_a_gift_card_product_issues_a_card_and_e_mails_its_code_once(
    shopper, django_capture_on_commit_callbacks
):
    product = make_product(price="25.00", on_hand=5)
    Product.objects.filter(pk=product.pk).update(is_gift_card=True)
    cart_fill(shopper, (product, 1))
    with django_capture_on_commit_callbacks(execute=True):
        order = place(shopper).order
    card = GiftCard.objects.get(issue_reference=f"{order.number}:{order.lines.get().pk}")
    assert (
        card.source == GiftCard.Source.PURCHASE
        and card.balance == Decimal("25.00")
        and card.currency == "USD"
    )
    sent = [m for m in mail.outbox if "gift card" in m.subject.lower()]
    assert len(sent) == 1 and sent[0].to == [shopper.email]
    code = next(word for word in sent[0].body.split() if word.count("-") == 4 and word.endswith(card.last4))
    assert gift_card_get_by_code(code=code, currency="USD").pk == card.pk
    row = OutboxEmail.objects.get(order=order, kind=OutboxEmail.Kind.GIFT_CARD_ISSUED)
    assert row.sent_at is not None and code not in str(row.context)  # the shop keeps no code once sent
    with django_capture_on_commit_callbacks(execute=True):
        assert [c.pk for c in order_gift_cards_issue(order)] == [
            card.pk
        ]  # a replay: the same card, no e-mail
    assert GiftCard.objects.filter(source=GiftCard.Source.PURCHASE).count() == 1
    assert len([m for m in mail.outbox if "gift card" in m.subject.lower()]) == 1
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD")
    assert LedgerTransaction.objects.filter(
        reference=f"giftcard:{card.pk}:issue", entries__account=revenue
    ).exists()


def test_reconciliation_finds_gift_card_uses_that_do_not_add_up_and_liability_without_a_card(
    shopper, product
):
    cart_fill(shopper, (product, 2))
    apply(shopper, issue("15.00"))
    order = place(shopper).order
    OrderGiftCard.objects.filter(order=order).update(amount=Decimal("14.00"))
    problems = order_components_problems(
        Order.objects.prefetch_related("lines", "gift_card_uses").get(pk=order.pk)
    )
    assert problems == ["the gift cards used do not add up to the gift card total"]

    def liability_findings():
        found = []

        class Collect(ItemWriter):
            def __init__(self):
                pass

            def add(self, **item):
                found.append(item)

        check_ledger(timezone.localdate(), Collect())
        return [item for item in found if str(item.get("object_id", "")).startswith("gift_card_liability")]

    assert liability_findings() == []
    orphan = LedgerAccount.objects.create(user=None, purpose=LedgerAccount.Purpose.GIFT_CARD, currency="USD")
    # ledger_post refuses a gift-card account without its card: written as a faulty import would.
    funding = ledger_system_account(purpose=LedgerAccount.Purpose.GIFT_CARD_FUNDING, currency="USD")
    tx = LedgerTransaction.objects.create(reference="orphan", kind=LedgerTransaction.Kind.ADJUSTMENT)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=tx, account=funding, amount=Decimal("-3.00"), currency="USD"),
            LedgerEntry(transaction=tx, account=orphan, amount=Decimal("3.00"), currency="USD"),
        ]
    )
    [finding] = liability_findings()
    assert (finding["kind"], finding["expected"], finding["actual"]) == (
        ReconciliationItem.Kind.GIFT_CARD_BALANCE,
        Decimal("3.00"),
        Decimal("0.00"),
    )


def test_returns_are_refunded_to_the_gift_card_first_then_the_wallet(shopper, product):
    from shop.orders.services.returns import return_request_approve, return_request_create
    from tests.orders.shipments import ship_all

    cart_fill(shopper, (product, 2))
    card = issue("15.00")
    apply(shopper, card)
    order = place(shopper).order  # card 15.00, wallet 5.00
    ship_all(order)
    line = order.lines.get()
    first = return_request_create(order_id=order.pk, user=shopper, lines={line.pk: 1}, reason="too big")
    first = return_request_approve(return_id=first.pk)
    assert first.status == "approved" and first.refund_amount == usd("10.00")
    assert balance(card) == Decimal("10.00") and Wallet.objects.get(user=shopper).balance == Decimal("95.00")
    second = return_request_create(order_id=order.pk, user=shopper, lines={line.pk: 1}, reason="too big")
    second = return_request_approve(return_id=second.pk)
    assert second.refund_amount == usd("10.00")
    assert balance(card) == Decimal("15.00") and Wallet.objects.get(user=shopper).balance == Decimal("100.00")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.refunded_total == usd("5.00")
    notes = Invoice.objects.filter(order=order, kind=InvoiceKind.CREDIT_NOTE).order_by("id")
    assert [note.total for note in notes] == [usd("10.00"), usd("10.00")]
    assert ledger_sound()


def test_an_unknown_card_outcome_resolved_as_failed_gives_the_gift_card_back_exactly_once(shopper, product):
    from payments.gateway import Outcome
    from payments.services.charges import payment_settle

    card = issue("15.00")
    order = _pending_card_order(shopper, product, card)
    payment_settle(
        payment_id=order.payment_id, outcome=Outcome.UNKNOWN
    )  # a timeout: the money may have moved
    assert balance(card) == Decimal("0.00")  # kept while the outcome is unknown
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
    payment_settle(payment_id=order.payment_id, outcome=Outcome.NOT_FOUND)  # the provider holds no charge
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    assert balance(card) == Decimal("15.00")
    payment_settle(payment_id=order.payment_id, outcome=Outcome.DECLINED)  # a late duplicate answer
    assert balance(card) == Decimal("15.00")
    assert OrderGiftCardRefund.objects.filter(use__order=order).count() == 1
    assert ledger_sound()


def test_the_demo_has_a_gift_card_product_taxed_at_zero():
    import io

    from shop.pricing import demo
    from shop.pricing.models import ProductTaxClass, TaxClass

    demo.load(stdout=io.StringIO())
    demo.load(stdout=io.StringIO())  # safe to run twice
    product = Product.objects.get(sku=demo.DEMO_GIFT_CARD_SKU)
    assert product.is_gift_card and product.is_active
    assert ProductTaxClass.objects.get(product=product).tax_class == TaxClass.ZERO


def test_staff_see_an_unsent_gift_card_e_mail_with_its_code_masked(shopper):
    from django.test import Client

    from tests.orders.factories import UserFactory

    product = make_product(price="25.00", on_hand=5)
    Product.objects.filter(pk=product.pk).update(is_gift_card=True)
    cart_fill(shopper, (product, 1))
    order = place(shopper).order  # on_commit does not run here: the e-mail stays unsent, with its code
    row = OutboxEmail.objects.get(order=order, kind=OutboxEmail.Kind.GIFT_CARD_ISSUED)
    code = row.context["cards"][0]["code"]
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = admin.get(f"/admin/orders/outboxemail/{row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert code not in html and code.replace("-", "") not in html and "····" + code[-4:] in html
