"""Gift cards on the ledger: issue, spend, refund, codes, reconciliation, admin; concurrent spends on PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from payments.exceptions import CurrencyMismatch, GiftCardInsufficient, GiftCardInvalid, RefundNotAllowed
from payments.models import AuditLog, GiftCard, LedgerAccount, LedgerTransaction, ReconciliationItem
from payments.reconciliation.items import ItemWriter
from payments.reconciliation.ledger import check_ledger
from payments.selectors import (
    account_balance,
    gift_card_get_by_code,
    gift_cards_with_wrong_cached_balance,
    ledger_unbalanced_transactions,
)
from payments.services.gift_cards import gift_card_issue, gift_card_redeem, gift_card_refund
from payments.services.ledger import ledger_system_account
from tests.payments.test_concurrency import run_at_once


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


def issue(amount="50.00", reference="staff:1", **kwargs):
    return gift_card_issue(
        amount=usd(amount), source=GiftCard.Source.STAFF, issue_reference=reference, **kwargs
    )


@pytest.mark.django_db
def test_issue_posts_the_value_from_funding_to_the_cards_own_account():
    issued = issue("50.00")
    card = issued.card
    assert card.balance == Decimal("50.00") and card.initial_amount == Decimal("50.00")
    assert account_balance(account=card.account) == Decimal("50.00")
    funding = ledger_system_account(purpose=LedgerAccount.Purpose.GIFT_CARD_FUNDING, currency="USD")
    assert account_balance(account=funding) == Decimal("-50.00")
    assert len(issued.code) == 24 and issued.code[-4:] == card.last4
    assert issued.code not in str(GiftCard.objects.values().get(pk=card.pk))
    assert not ledger_unbalanced_transactions().exists()


@pytest.mark.django_db
def test_issue_is_idempotent_per_reference_and_a_sale_is_funded_by_revenue():
    first = gift_card_issue(
        amount=usd("20.00"), source=GiftCard.Source.PURCHASE, issue_reference="order-7:line-1"
    )
    again = gift_card_issue(
        amount=usd("20.00"), source=GiftCard.Source.PURCHASE, issue_reference="order-7:line-1"
    )
    assert again.card.pk == first.card.pk and again.code is None
    assert GiftCard.objects.count() == 1
    revenue = ledger_system_account(purpose=LedgerAccount.Purpose.SHOP_REVENUE, currency="USD")
    assert account_balance(account=revenue) == Decimal("-20.00")


@pytest.mark.django_db
def test_two_cards_have_two_accounts_without_breaking_the_one_system_account_rule():
    one, two = issue(reference="a").card, issue(reference="b").card
    assert one.account_id != two.account_id
    assert ledger_system_account(purpose=LedgerAccount.Purpose.GIFT_CARD_FUNDING, currency="USD").pk


@pytest.mark.django_db
def test_code_is_found_whatever_the_case_and_dashes_and_unusable_cards_are_one_answer():
    issued = issue()
    typed = issued.code.lower().replace("-", " ")
    assert gift_card_get_by_code(code=typed, currency="USD").pk == issued.card.pk
    for code, currency in [("WRONG-CODE", "USD"), (issued.code, "EUR"), ("", None)]:
        with pytest.raises(GiftCardInvalid):
            gift_card_get_by_code(code=code, currency=currency)
    GiftCard.objects.filter(pk=issued.card.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(GiftCardInvalid) as caught:
        gift_card_get_by_code(code=issued.code)
    assert caught.value.as_dict()["code"] == "gift_card_invalid"


@pytest.mark.django_db
def test_spend_moves_value_to_revenue_once_per_order_and_never_below_zero():
    card = issue("50.00").card
    gift_card_redeem(gift_card_id=card.pk, amount=usd("30.00"), reference="order-1")
    gift_card_redeem(gift_card_id=card.pk, amount=usd("30.00"), reference="order-1")  # replay
    card.refresh_from_db()
    assert card.balance == Decimal("20.00")
    with pytest.raises(GiftCardInsufficient) as caught:
        gift_card_redeem(gift_card_id=card.pk, amount=usd("20.01"), reference="order-2")
    assert caught.value.status_code == 402
    card.refresh_from_db()
    assert card.balance == Decimal("20.00")
    assert not LedgerTransaction.objects.filter(reference__endswith=":spend:order-2").exists()
    with pytest.raises(CurrencyMismatch):
        gift_card_redeem(gift_card_id=card.pk, amount=Money("1.00", "EUR"), reference="order-3")


@pytest.mark.django_db
def test_switched_off_card_cannot_be_spent_but_takes_a_refund():
    card = issue("50.00").card
    gift_card_redeem(gift_card_id=card.pk, amount=usd("50.00"), reference="order-1")
    GiftCard.objects.filter(pk=card.pk).update(is_active=False)
    with pytest.raises(GiftCardInvalid):
        gift_card_redeem(gift_card_id=card.pk, amount=usd("1.00"), reference="order-2")
    gift_card_refund(gift_card_id=card.pk, amount=usd("50.00"), reference="order-1", refund_reference="r1")
    card.refresh_from_db()
    assert card.balance == Decimal("50.00")


@pytest.mark.django_db
def test_refund_gives_back_at_most_what_the_order_spent_and_replays_once():
    card = issue("50.00").card
    gift_card_redeem(gift_card_id=card.pk, amount=usd("40.00"), reference="order-1")
    gift_card_refund(gift_card_id=card.pk, amount=usd("25.00"), reference="order-1", refund_reference="r1")
    gift_card_refund(gift_card_id=card.pk, amount=usd("25.00"), reference="order-1", refund_reference="r1")
    with pytest.raises(RefundNotAllowed):
        gift_card_refund(
            gift_card_id=card.pk, amount=usd("15.01"), reference="order-1", refund_reference="r2"
        )
    with pytest.raises(RefundNotAllowed):
        gift_card_refund(gift_card_id=card.pk, amount=usd("1.00"), reference="order-9", refund_reference="r3")
    gift_card_refund(gift_card_id=card.pk, amount=usd("15.00"), reference="order-1", refund_reference="r2")
    card.refresh_from_db()
    assert card.balance == Decimal("50.00")
    assert account_balance(account=card.account) == Decimal("50.00")


@pytest.mark.django_db
def test_reconciliation_flags_a_gift_card_whose_cached_balance_drifted():
    card = issue("50.00").card
    run_items = []

    class Collect(ItemWriter):
        def __init__(self):
            pass

        def add(self, **item):
            run_items.append(item)

    check_ledger(timezone.localdate(), Collect())
    assert run_items == [] and gift_cards_with_wrong_cached_balance() == []
    GiftCard.objects.filter(pk=card.pk).update(balance=Decimal("60.00"))
    check_ledger(timezone.localdate(), Collect())
    assert [(i["kind"], i["expected"], i["actual"]) for i in run_items] == [
        (ReconciliationItem.Kind.GIFT_CARD_BALANCE, Decimal("50.00"), Decimal("60.00"))
    ]
    assert [c.pk for c in gift_cards_with_wrong_cached_balance()] == [card.pk]


@pytest.mark.django_db
def test_staff_issue_a_card_in_admin_and_see_its_code_once(client):
    staff = get_user_model().objects.create_superuser(email="boss@example.com", password="pw-123456-secret")
    client.force_login(staff)
    url = reverse("admin:payments_giftcard_add")
    assert client.get(url).status_code == 200
    data = {"amount": "25.00", "currency": "EUR", "expires_at": "", "reference": "f1b2"}
    response = client.post(url, data, follow=True)
    card = GiftCard.objects.get()
    assert (card.balance, card.currency, card.issued_by, card.source) == (
        Decimal("25.00"),
        "EUR",
        staff,
        "staff",
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any(card.last4 in message and "shown only now" in message for message in shown)
    client.post(url, data)  # double submit: the same card
    assert GiftCard.objects.count() == 1
    assert AuditLog.objects.filter(action="gift_card_issue").count() == 1
    assert client.get(reverse("admin:payments_giftcard_changelist")).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_of_one_card_never_overdraw_it():
    card = issue("100.00").card

    results = run_at_once(
        10, lambda i: gift_card_redeem(gift_card_id=card.pk, amount=usd("30.00"), reference=f"order-{i}")
    )

    spent = [r for r in results if isinstance(r, LedgerTransaction)]
    refused = [r for r in results if isinstance(r, GiftCardInsufficient)]
    assert (len(spent), len(refused)) == (3, 7), results
    card.refresh_from_db()
    assert card.balance == Decimal("10.00")
    assert account_balance(account=card.account) == Decimal("10.00")
    assert gift_cards_with_wrong_cached_balance() == []
    assert not ledger_unbalanced_transactions().exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_of_one_spend_never_return_more_than_was_spent():
    card = issue("100.00").card
    gift_card_redeem(gift_card_id=card.pk, amount=usd("60.00"), reference="order-1")

    results = run_at_once(
        8,
        lambda i: gift_card_refund(
            gift_card_id=card.pk, amount=usd("25.00"), reference="order-1", refund_reference=f"r{i}"
        ),
    )

    assert len([r for r in results if isinstance(r, LedgerTransaction)]) == 2, results
    assert len([r for r in results if isinstance(r, RefundNotAllowed)]) == 6, results
    card.refresh_from_db()
    assert card.balance == Decimal("90.00")
    assert gift_cards_with_wrong_cached_balance() == []
