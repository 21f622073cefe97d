from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from djmoney.money import Money

from catalog.exceptions import OutOfStock
from catalog.models import ProductPurchase, StockReservation
from payments.exceptions import InsufficientFunds
from payments.models import Payment, Wallet
from payments.services.charges import payment_create
from shop.cart.models import CartLine
from shop.cart.services import CartOwner, cart_clear
from shop.core.exceptions import InvalidTransition
from shop.orders.exceptions import CheckoutInvalid, PaymentBeingConfirmed, PriceChanged
from shop.orders.models import Order, OutboxEmail, ReturnRequest
from shop.orders.services.checkout import PlaceOutcome, order_place
from shop.orders.services.outbox import outbox_drain, outbox_email_send
from shop.orders.services.returns import return_request_approve, return_request_create
from shop.orders.services.shipments import order_deliver_everything
from shop.orders.services.transitions import (
    order_cancel,
    order_expire_reservations,
    order_refund,
)
from tests.orders.factories import AddressFactory, cart_fill, make_product, shopper_new
from tests.orders.helpers import assert_ledger_balanced, stock_of
from tests.orders.shipments import ship_all
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db


def place_wallet(user, **kwargs):
    kwargs.setdefault("shipping_address", user.addresses.first().pk)
    kwargs.setdefault("currency", "USD")
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="wallet", **kwargs)


def wallet_balance(user, currency="USD") -> Decimal:
    return Wallet.objects.get(user=user, currency=currency).balance


def test_wallet_checkout_pays_the_order_in_one_go(shopper, product, django_capture_on_commit_callbacks):
    other = make_product(price="2.50", on_hand=5)
    cart_fill(shopper, (product, 3), (other, 2))
    with django_capture_on_commit_callbacks(execute=True):
        result = place_wallet(shopper)
    order = result.order
    assert result.outcome == PlaceOutcome.PAID
    assert order.status == Order.Status.PAID
    assert order.total == Money("35.00", "USD")
    lines = {line.sku: line for line in order.lines.all()}
    assert lines[product.sku].unit_price == Money("10.00", "USD")
    assert lines[product.sku].quantity == 3
    assert lines[other.sku].name == other.name
    assert order.shipping_address["full_name"] == shopper.addresses.first().full_name
    assert stock_of(product) == (7, 0)
    assert stock_of(other) == (3, 0)
    assert wallet_balance(shopper) == Decimal("65.00")
    assert list(order.events.values_list("from_status", "to_status")) == [("", "pending_payment"), ("pending_payment", "paid")]
    assert ProductPurchase.objects.filter(user=shopper, reference=order.number).count() == 2
    assert not CartLine.objects.filter(cart__user=shopper).exists()
    assert set(OutboxEmail.objects.values_list("kind", flat=True)) == {"order_placed", "order_paid"}
    assert OutboxEmail.objects.filter(sent_at__isnull=True).count() == 0
    assert len(mail.outbox) == 2
    assert order.number in mail.outbox[1].subject
    assert mail.outbox[1].alternatives  # HTML part
    assert_ledger_balanced()


def test_lines_are_snapshots_that_later_catalog_changes_do_not_alter(shopper, product):
    from catalog.services.products import product_update

    cart_fill(shopper, (product, 1))
    original = (product.sku, product.name)
    order = place_wallet(shopper).order
    product_update(product=product, name="Renamed", price=Money("99.00", "USD"))
    line = order.lines.get()
    assert (line.sku, line.name, line.unit_price, line.quantity) == (*original, Money("10.00", "USD"), 1)


def test_checkout_in_another_currency_uses_converted_prices(rates, product):
    user = shopper_new(funds="100.00", currency="EUR")
    cart_fill(user, (product, 2))
    order = place_wallet(user, currency="EUR").order
    assert order.status == Order.Status.PAID
    assert order.total.currency.code == "EUR"
    assert order.lines.get().unit_price.currency.code == "EUR"
    assert wallet_balance(user, "EUR") == Decimal("100.00") - order.total.amount
    assert_ledger_balanced()


def test_insufficient_funds_reserves_and_charges_nothing(product):
    user = shopper_new(funds="5.00")
    cart_fill(user, (product, 1))
    with pytest.raises(InsufficientFunds) as exc:
        place_wallet(user)
    assert exc.value.status_code == 402
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert not StockReservation.objects.exists()
    assert stock_of(product) == (10, 0)
    assert wallet_balance(user) == Decimal("5.00")
    assert CartLine.objects.filter(cart__user=user).count() == 1


def test_no_wallet_in_the_currency_is_402_with_nothing_reserved(product):
    user = shopper_new(funds=None)
    cart_fill(user, (product, 1))
    with pytest.raises(InsufficientFunds):
        place_wallet(user)
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)


def test_out_of_stock_at_checkout_is_409_and_leaves_nothing(shopper):
    from catalog.services.stock import stock_adjust

    product = make_product(on_hand=5)
    cart_fill(shopper, (product, 4))
    stock_adjust(product_id=product.id, delta=-3, reason="breakage")
    with pytest.raises(OutOfStock) as exc:
        place_wallet(shopper)
    assert exc.value.status_code == 409
    assert not Order.objects.exists()
    assert stock_of(product) == (2, 0)
    assert wallet_balance(shopper) == Decimal("100.00")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"shipping_address": 999_999}, "shipping_address"),
        ({"shipping_address": {"full_name": "A"}}, "shipping_address.line1"),
        ({"shipping_address": {"full_name": "A", "line1": "x", "city": "y", "postal_code": "1", "country": "1X"}},
         "shipping_address.country"),
        ({"currency": "JPY"}, "currency"),
    ],
)
def test_bad_checkout_input_is_400_with_the_field(shopper, product, kwargs, field):
    cart_fill(shopper, (product, 1))
    with pytest.raises(CheckoutInvalid) as exc:
        place_wallet(shopper, **kwargs)
    assert exc.value.field == field
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)


def test_someone_elses_address_is_unknown(shopper, product):
    stranger_address = AddressFactory()
    cart_fill(shopper, (product, 1))
    with pytest.raises(CheckoutInvalid) as exc:
        place_wallet(shopper, shipping_address=stranger_address.pk)
    assert exc.value.field == "shipping_address"


def test_inline_address_is_snapshotted(shopper, product):
    cart_fill(shopper, (product, 1))
    address = {"full_name": "Ada L", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "fr"}
    order = place_wallet(shopper, shipping_address=address).order
    assert order.shipping_address["country"] == "FR"
    assert order.shipping_address["city"] == "Paris"


def test_the_same_checkout_token_makes_one_order(shopper, product):
    cart_fill(shopper, (product, 1))
    first = place_wallet(shopper, checkout_token="tok-1")
    cart_fill(shopper, (product, 1))
    second = place_wallet(shopper, checkout_token="tok-1")
    assert first.order.pk == second.order.pk
    assert Order.objects.count() == 1
    assert wallet_balance(shopper) == Decimal("90.00")


def test_empty_cart_cannot_be_checked_out(shopper):
    from shop.cart.exceptions import CartEmpty

    with pytest.raises(CartEmpty):
        place_wallet(shopper)


def test_life_cycle_writes_an_event_per_transition(shopper, product):
    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order
    ship_all(order)
    order_deliver_everything(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert order.shipped_at and order.delivered_at
    assert list(order.events.values_list("to_status", flat=True)) == ["pending_payment", "paid", "shipped", "delivered"]
    with pytest.raises(InvalidTransition) as exc:
        order_deliver_everything(order_id=order.id)
    assert exc.value.status_code == 409
    assert exc.value.code == "invalid_transition"
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=order.id)
    assert order.events.count() == 4


def _pending_card_order(user, product, quantity=1, *, payment_status=None):
    """An order placed for card payment whose provider call has not happened yet."""
    from shop.orders.services.checkout import _address_snapshot, _order_create, checkout_lines

    cart_fill(user, (product, quantity))
    lines = checkout_lines(user=user, currency="USD")
    order = _order_create(
        user=user, currency="USD", method="card", address=_address_snapshot(user=user, shipping_address=user.addresses.first().pk),
        lines=lines, checkout_token="",
    )
    payment = payment_create(user=user, purpose="order", reference=order.number, amount=order.total, method="card", card_token="tok_ok")
    Order.objects.filter(pk=order.pk).update(payment_id=payment.id)
    cart_clear(owner=CartOwner(user=user))
    if payment_status:
        Payment.objects.filter(pk=payment.pk).update(status=payment_status)
    order.refresh_from_db()
    return order


def test_cancel_releases_stock_once(shopper, product):
    order = _pending_card_order(shopper, product, 3)
    assert stock_of(product) == (10, 3)
    order_cancel(order_id=order.id, actor=shopper, reason="changed my mind")
    assert stock_of(product) == (10, 0)
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=order.id)
    assert stock_of(product) == (10, 0)
    event = order.events.last()
    assert (event.from_status, event.to_status, event.actor, event.reason) == ("pending_payment", "cancelled", shopper, "changed my mind")


def test_cancel_is_refused_while_the_payment_is_being_confirmed(shopper, product):
    order = _pending_card_order(shopper, product, payment_status="unknown")
    with pytest.raises(PaymentBeingConfirmed):
        order_cancel(order_id=order.id, actor=shopper)
    assert stock_of(product) == (10, 1)


def test_expire_reservations_cancels_expired_orders_exactly_once(shopper, product):
    expired = _pending_card_order(shopper, product, 2)
    fresh = _pending_card_order(shopper, product, 1)
    unknown = _pending_card_order(shopper, product, 3, payment_status="unknown")
    past = timezone.now() - timedelta(minutes=1)
    Order.objects.filter(pk__in=[expired.pk, unknown.pk]).update(reservation_expires_at=past)
    assert stock_of(product) == (10, 6)

    assert order_expire_reservations() == 1
    assert order_expire_reservations() == 0
    assert stock_of(product) == (10, 4)
    assert Order.objects.get(pk=expired.pk).status == Order.Status.CANCELLED
    assert Order.objects.get(pk=fresh.pk).status == Order.Status.PENDING_PAYMENT
    assert Order.objects.get(pk=unknown.pk).status == Order.Status.PENDING_PAYMENT
    assert StockReservation.objects.filter(reference=expired.number, status="released").count() == 1


def test_full_refund_of_a_wallet_order_credits_the_wallet_and_restocks(shopper, product, django_capture_on_commit_callbacks):
    cart_fill(shopper, (product, 2))
    order = place_wallet(shopper).order
    with django_capture_on_commit_callbacks(execute=True):
        order_refund(order_id=order.id, reason="customer asked")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.refunded_total == Money("20.00", "USD")
    assert wallet_balance(shopper) == Decimal("100.00")
    assert stock_of(product) == (10, 0)
    assert order.events.last().to_status == "refunded"
    assert OutboxEmail.objects.filter(kind="order_refunded", sent_at__isnull=False).count() == 1
    with pytest.raises(InvalidTransition):
        order_refund(order_id=order.id)
    assert wallet_balance(shopper) == Decimal("100.00")
    assert_ledger_balanced()


def test_partial_return_refunds_the_returned_lines_only(shopper, product):
    other = make_product(price="5.00", on_hand=4)
    cart_fill(shopper, (product, 2), (other, 1))
    order = place_wallet(shopper).order
    ship_all(order)
    order_deliver_everything(order_id=order.id)
    line = order.lines.get(product=product)
    request = return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="too big")
    assert request.status == ReturnRequest.Status.REQUESTED
    approved = return_request_approve(return_id=request.id)
    assert approved.status == ReturnRequest.Status.APPROVED
    assert approved.refund_amount == Money("10.00", "USD")
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert order.refunded_total == Money("10.00", "USD")
    assert wallet_balance(shopper) == Decimal("85.00")
    line.refresh_from_db()
    assert line.refunded_quantity == 1
    assert stock_of(product) == (9, 0)
    with pytest.raises(InvalidTransition):
        return_request_approve(return_id=request.id)
    assert wallet_balance(shopper) == Decimal("85.00")
    # The rest of the order can still be returned; refunding all of it ends in "refunded".
    rest = {line.id: 1, order.lines.get(product=other).id: 1}
    return_request_approve(return_id=return_request_create(order_id=order.id, user=shopper, lines=rest, reason="all").id)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert wallet_balance(shopper) == Decimal("100.00")
    assert_ledger_balanced()


def test_return_requests_are_checked(shopper, product):
    from shop.orders.exceptions import ReturnInvalid

    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order
    line = order.lines.get()
    with pytest.raises(InvalidTransition):  # nothing shipped yet: nothing to return
        return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="x")
    ship_all(order)
    with pytest.raises(ReturnInvalid):
        return_request_create(order_id=order.id, user=shopper, lines={line.id: 2}, reason="x")
    with pytest.raises(ReturnInvalid):
        return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="")
    return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="broken")
    with pytest.raises(ReturnInvalid):  # already asked for
        return_request_create(order_id=order.id, user=shopper, lines={line.id: 1}, reason="again")
    pending = _pending_card_order(shopper, product)
    with pytest.raises(InvalidTransition):
        return_request_create(order_id=pending.id, user=shopper, lines={pending.lines.get().id: 1}, reason="x")


def test_outbox_sends_each_email_at_most_once(shopper, product, settings):
    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order  # no on_commit in this test: rows wait in the outbox
    assert OutboxEmail.objects.filter(order=order, sent_at__isnull=True).count() == 2
    assert outbox_drain() == 2
    assert outbox_drain() == 0
    row = OutboxEmail.objects.first()
    assert outbox_email_send(outbox_id=row.id) is False
    assert len(mail.outbox) == 2
    assert {m.to[0] for m in mail.outbox} == {shopper.email}


def test_a_failing_mail_server_keeps_the_row_for_the_next_drain(shopper, product, settings):
    cart_fill(shopper, (product, 1))
    place_wallet(shopper)
    settings.EMAIL_BACKEND = "tests.orders.helpers.BrokenEmailBackend"
    assert outbox_drain() == 0
    assert OutboxEmail.objects.filter(sent_at__isnull=True, attempts=1).count() == 2
    assert "SMTP down" in OutboxEmail.objects.first().last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_drain() == 2


def test_emails_are_translated(shopper, product):
    shopper.preferred_language = "de"
    shopper.save()
    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order
    assert OutboxEmail.objects.filter(language="de").count() == 2
    outbox_drain()
    subjects = {m.subject for m in mail.outbox}
    assert f"Ihre Bestellung {order.number} ist bezahlt" in subjects
    assert "Vielen Dank für Ihren Einkauf." in mail.outbox[0].body


def test_beat_tasks_are_registered_under_the_scheduled_names(shopper, product, settings):
    from shop.celery import app
    from shop.orders import tasks

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"shop.orders.tasks.expire_reservations", "shop.orders.tasks.drain_outbox"} <= scheduled
    assert {"shop.orders.tasks.expire_reservations", "shop.orders.tasks.drain_outbox"} <= set(app.tasks)
    cart_fill(shopper, (product, 1))
    place_wallet(shopper)
    assert tasks.drain_outbox.apply(throw=True).result == 2
    assert tasks.expire_reservations.apply(throw=True).result == 0


def test_a_taken_order_number_is_drawn_again(shopper, product, monkeypatch):
    import itertools

    import shop.orders.models as order_models

    cart_fill(shopper, (product, 1))
    first = place_wallet(shopper).order
    # The random source repeats the first order's suffix once, then gives new letters.
    letters = itertools.chain(first.number[-6:], itertools.repeat("Z"))
    monkeypatch.setattr(order_models.secrets, "choice", lambda alphabet: next(letters))
    cart_fill(shopper, (product, 1))
    second = place_wallet(shopper).order
    assert second.number != first.number
    assert second.number.endswith("ZZZZZZ")
    assert Order.objects.count() == 2


def test_a_card_number_is_refused_before_anything_is_made(shopper, product):
    from payments.exceptions import InvalidCardToken

    cart_fill(shopper, (product, 1))
    with pytest.raises(InvalidCardToken) as refused:
        order_place(shipping_method=shipping_method_everywhere(), user=shopper, payment_method="card", card_token="4242424242424242",
                    shipping_address=shopper.addresses.first().pk, currency="USD")
    assert refused.value.field == "card_token"
    assert not Order.objects.exists()
    assert not StockReservation.objects.exists()
    assert not OutboxEmail.objects.exists()


def test_an_expected_total_that_no_longer_matches_places_nothing(shopper, product):
    cart_fill(shopper, (product, 2))
    with pytest.raises(PriceChanged) as refused:
        place_wallet(shopper, expected_total=Money("10.00", "USD"))
    assert (refused.value.status_code, refused.value.code, refused.value.field) == (409, "price_changed", "total")
    assert refused.value.extra["totals"]["total"] == {"amount": "20.00", "currency": "USD"}
    assert "20.00" in str(refused.value.message)
    assert not Order.objects.exists()
    assert stock_of(product) == (10, 0)
    assert wallet_balance(shopper) == Decimal("100.00")
    order = place_wallet(shopper, expected_total=Money("20.00", "USD")).order
    assert order.total == Money("20.00", "USD")


def test_a_resent_email_carries_the_same_message_id(shopper, product, monkeypatch):
    from django.db.models import Model

    from shop.orders.services.outbox import outbox_message_id

    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order
    row = OutboxEmail.objects.get(order=order, kind="order_paid")
    original_save = Model.save

    def save_fails_once(self, *args, **kwargs):
        # The e-mail went out, then recording it as sent is lost (the commit fails).
        if isinstance(self, OutboxEmail) and self.sent_at is not None and not mail.outbox[1:]:
            raise ConnectionError("database gone before commit")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Model, "save", save_fails_once)
    with pytest.raises(ConnectionError):
        outbox_email_send(outbox_id=row.id)
    row.refresh_from_db()
    assert row.sent_at is None
    assert outbox_email_send(outbox_id=row.id) is True
    first, second = mail.outbox
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"] == outbox_message_id(row.key)
    assert first.message()["Message-ID"] == outbox_message_id(row.key)
    other = OutboxEmail.objects.get(order=order, kind="order_placed")
    assert outbox_message_id(other.key) != outbox_message_id(row.key)


def test_an_email_given_up_after_the_last_attempt_is_left_for_staff(shopper, product, settings, caplog, admin_client):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    settings.EMAIL_BACKEND = "tests.orders.helpers.BrokenEmailBackend"
    cart_fill(shopper, (product, 1))
    place_wallet(shopper)
    assert outbox_drain() == 0
    assert outbox_drain() == 0
    assert outbox_drain() == 0  # no attempts left: not tried again
    assert set(OutboxEmail.objects.values_list("attempts", flat=True)) == {2}
    assert "given up" in caplog.text
    given_up = admin_client.get("/admin/orders/outboxemail/?delivery=given_up")
    assert given_up.status_code == 200
    assert given_up.context["cl"].result_count == 2
    assert admin_client.get("/admin/orders/outboxemail/?delivery=pending").context["cl"].result_count == 0
    # Staff send them again once the mail server is back.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ids = list(OutboxEmail.objects.values_list("id", flat=True))
    response = admin_client.post("/admin/orders/outboxemail/", {"action": "send_again", "_selected_action": ids})
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    assert admin_client.get("/admin/orders/outboxemail/?delivery=sent").context["cl"].result_count == 2
