"""The pricing pipeline: worked examples by hand (docs/pricing.md) and properties over random orders."""

from decimal import Decimal

import pytest
from djmoney.money import Money
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shop.pricing.exceptions import PriceCurrencyMismatch, VoucherInvalid, VoucherMinSpend
from shop.pricing.models import DiscountKind, TaxClass
from shop.pricing.pipeline import (
    GiftCardBalance,
    LineInput,
    PricingInput,
    PromotionRule,
    VoucherRule,
    price_order,
)

DE = {TaxClass.STANDARD: Decimal("19"), TaxClass.REDUCED: Decimal("7"), TaxClass.ZERO: Decimal("0")}
FR = {TaxClass.STANDARD: Decimal("20"), TaxClass.REDUCED: Decimal("5.5"), TaxClass.ZERO: Decimal("0")}


def eur(amount) -> Money:
    return Money(Decimal(amount), "EUR")


BOOK = LineInput(key="book", unit_price=eur("10.00"), quantity=3, tax_class=TaxClass.REDUCED, product_id=1)
LAMP = LineInput(key="lamp", unit_price=eur("19.99"), quantity=2, product_id=2, category_ids=frozenset({7}))
TEN_PERCENT_LAMPS = PromotionRule(
    id=1,
    name="Lamps -10 %",
    kind=DiscountKind.PERCENTAGE,
    percentage=Decimal("10"),
    category_ids=frozenset({7}),
)
FIVE_OFF = VoucherRule(
    code="FIVE",
    kind=DiscountKind.FIXED,
    amounts={"EUR": Decimal("5.00")},
    minimum_spend={"EUR": Decimal("50")},
)


def worked_example(prices_include_tax: bool):
    return price_order(
        PricingInput(
            currency="EUR",
            lines=[BOOK, LAMP],
            country="DE",
            tax_rates=DE,
            prices_include_tax=prices_include_tax,
            promotions=[TEN_PERCENT_LAMPS],
            voucher=FIVE_OFF,
            shipping=eur("4.90"),
            gift_cards=[GiftCardBalance(key="AB12", balance=eur("20.00"))],
        )
    )


def test_worked_example_with_gross_prices_matches_the_docs():
    order = worked_example(prices_include_tax=True)
    book, lamp = order.lines
    assert (book.base, book.promotion_discount, book.voucher_discount) == (
        eur("30.00"),
        eur("0"),
        eur("2.27"),
    )
    assert (lamp.base, lamp.promotion_discount, lamp.voucher_discount) == (
        eur("39.98"),
        eur("4.00"),
        eur("2.73"),
    )
    assert (book.net, book.tax, book.gross, book.tax_rate) == (
        eur("25.92"),
        eur("1.81"),
        eur("27.73"),
        Decimal("7"),
    )
    assert (lamp.net, lamp.tax, lamp.gross) == (eur("27.94"), eur("5.31"), eur("33.25"))
    assert lamp.discounted_unit_price == eur("17.99")
    assert (order.shipping_net, order.shipping_tax, order.shipping_gross) == (
        eur("4.12"),
        eur("0.78"),
        eur("4.90"),
    )
    assert order.subtotal == eur("69.98")
    assert order.discount_total == eur("9.00")
    assert (order.net_total, order.tax_total, order.gross_total) == (eur("57.98"), eur("7.90"), eur("65.88"))
    assert order.gift_card_total == eur("20.00")
    assert order.total == eur("45.88")
    summary = [(row.rate, row.net, row.tax) for row in order.tax_summary]
    assert summary == [(Decimal("19"), eur("32.06"), eur("6.09")), (Decimal("7"), eur("25.92"), eur("1.81"))]


def test_worked_example_with_net_prices_adds_tax_on_top():
    order = worked_example(prices_include_tax=False)
    book, lamp = order.lines
    assert (book.net, book.tax, book.gross) == (eur("27.73"), eur("1.94"), eur("29.67"))
    assert (lamp.net, lamp.tax, lamp.gross) == (eur("33.25"), eur("6.32"), eur("39.57"))
    assert (order.shipping_net, order.shipping_tax) == (eur("4.90"), eur("0.93"))
    assert (order.net_total, order.tax_total, order.gross_total) == (eur("65.88"), eur("9.19"), eur("75.07"))
    assert order.total == eur("55.07")


def test_voucher_below_its_minimum_order_value_is_refused():
    with pytest.raises(VoucherMinSpend) as caught:
        price_order(PricingInput(currency="EUR", lines=[BOOK], tax_rates=DE, voucher=FIVE_OFF))
    assert caught.value.as_dict()["code"] == "voucher_min_spend"


def test_fixed_voucher_without_an_amount_in_the_order_currency_is_invalid():
    usd_line = LineInput(key="x", unit_price=Money("80.00", "USD"), quantity=1)
    with pytest.raises(VoucherInvalid):
        price_order(PricingInput(currency="USD", lines=[usd_line], voucher=FIVE_OFF))


def test_free_shipping_voucher_takes_the_shipping_and_its_tax():
    voucher = VoucherRule(code="SHIP", kind=DiscountKind.FREE_SHIPPING)
    order = price_order(
        PricingInput(currency="EUR", lines=[BOOK], tax_rates=DE, voucher=voucher, shipping=eur("4.90"))
    )
    assert order.shipping == eur("4.90") and order.shipping_discount == eur("4.90")
    assert (order.shipping_gross, order.shipping_tax) == (eur("0"), eur("0"))
    assert order.total == eur("30.00")


def test_best_promotion_wins_and_fixed_amounts_never_exceed_the_unit_price():
    fixed = PromotionRule(
        id=2, name="-25", kind=DiscountKind.FIXED, amounts={"EUR": Decimal("25")}, product_ids=frozenset({2})
    )
    order = price_order(
        PricingInput(currency="EUR", lines=[LAMP], tax_rates=DE, promotions=[TEN_PERCENT_LAMPS, fixed])
    )
    assert order.lines[0].promotion_id == 2
    assert order.lines[0].promotion_discount == eur("39.98")
    assert order.total == eur("0")


def test_gift_cards_pay_in_order_and_never_make_the_total_negative():
    cards = [GiftCardBalance(key="A", balance=eur("25.00")), GiftCardBalance(key="B", balance=eur("25.00"))]
    order = price_order(PricingInput(currency="EUR", lines=[BOOK], tax_rates=DE, gift_cards=cards))
    assert [(use.key, use.amount) for use in order.gift_cards] == [("A", eur("25.00")), ("B", eur("5.00"))]
    assert order.total == eur("0")


def test_a_price_in_another_currency_is_refused():
    with pytest.raises(PriceCurrencyMismatch):
        price_order(PricingInput(currency="USD", lines=[BOOK]))


def test_country_without_rates_is_not_taxed():
    order = price_order(PricingInput(currency="EUR", lines=[BOOK], tax_rates={}, prices_include_tax=False))
    assert order.tax_total == eur("0") and order.total == eur("30.00")


# --- properties ----------------------------------------------------------------------------------

CURRENCIES = ["EUR", "USD", "GBP", "JPY"]
cents = st.integers(min_value=1, max_value=500_000)


@st.composite
def orders(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    quantum = Decimal("1") if currency == "JPY" else Decimal("0.01")

    def money(units):
        return Money(Decimal(units) * quantum, currency)

    lines = [
        LineInput(
            key=f"l{i}",
            unit_price=money(draw(cents)),
            quantity=draw(st.integers(min_value=1, max_value=20)),
            tax_class=draw(st.sampled_from(TaxClass.values)),
            product_id=draw(st.integers(min_value=1, max_value=5)),
            category_ids=frozenset(draw(st.sets(st.integers(min_value=1, max_value=5), max_size=2))),
        )
        for i in range(draw(st.integers(min_value=1, max_value=8)))
    ]
    promotions = [
        PromotionRule(
            id=i,
            name=f"p{i}",
            kind=kind,
            percentage=Decimal(draw(st.integers(min_value=1, max_value=10000))) / 100
            if kind == "percentage"
            else None,
            amounts={currency: money(draw(cents)).amount},
            product_ids=frozenset(draw(st.sets(st.integers(min_value=1, max_value=5), max_size=3))),
            category_ids=frozenset(draw(st.sets(st.integers(min_value=1, max_value=5), max_size=3))),
        )
        for i, kind in enumerate(draw(st.lists(st.sampled_from(["percentage", "fixed"]), max_size=3)))
    ]
    voucher = draw(
        st.none()
        | st.builds(
            VoucherRule,
            code=st.just("V"),
            kind=st.sampled_from(DiscountKind.values),
            percentage=st.integers(min_value=1, max_value=10000).map(lambda n: Decimal(n) / 100),
            amounts=st.just({currency: money(draw(cents)).amount}),
        )
    )
    return PricingInput(
        currency=currency,
        lines=lines,
        tax_rates=draw(st.sampled_from([DE, FR, {}])),
        prices_include_tax=draw(st.booleans()),
        promotions=promotions,
        voucher=voucher,
        shipping=draw(st.none() | cents.map(money)),
        gift_cards=[
            GiftCardBalance(key=str(i), balance=money(units))
            for i, units in enumerate(draw(st.lists(cents, max_size=3)))
        ],
    )


@hsettings(max_examples=300, deadline=None)
@given(orders())
def test_priced_orders_add_up_exactly(data):
    order = price_order(data)
    zero = Money(0, data.currency)
    for line in order.lines:
        assert line.gross == line.net + line.tax
        assert zero <= line.discount <= line.base
        assert line.discount == line.promotion_discount + line.voucher_discount
        assert line.net >= zero and line.tax >= zero
    assert order.net_total == sum((line.net for line in order.lines), zero) + order.shipping_net
    assert order.tax_total == sum((line.tax for line in order.lines), zero) + order.shipping_tax
    assert order.gross_total == order.net_total + order.tax_total
    entered = order.gross_total if data.prices_include_tax else order.net_total
    assert order.subtotal - order.discount_total + (order.shipping or zero) == entered
    assert order.total == order.gross_total - order.gift_card_total >= zero
    assert sum((row.tax for row in order.tax_summary), zero) == order.tax_total
    assert sum((row.net for row in order.tax_summary), zero) == order.net_total
    assert order.shipping_discount <= (order.shipping or zero)
    amounts = [order.total, order.subtotal, order.tax_total, order.gift_card_total] + [
        line.gross for line in order.lines
    ]
    quantum = Decimal("1") if data.currency == "JPY" else Decimal("0.01")
    for amount in amounts:
        assert amount.currency.code == data.currency
        assert amount.amount == amount.amount.quantize(quantum)
