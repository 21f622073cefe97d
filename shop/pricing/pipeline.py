"""The pricing pipeline: one pure function from a cart's or order's facts to every money component.

`price_order(PricingInput) -> PricedOrder` reads no database and knows no
model: the selectors in shop.pricing.selectors load the rules into the plain
dataclasses below. The steps, in this order, each in the order's currency
(docs/pricing.md has a worked example):

1. line prices: `base = unit price x quantity` (unit prices rounded to the
   currency's minor unit first);
2. catalogue promotions: per line, the one applicable promotion that takes
   the most (promotions do not stack); a percentage is taken off the line's
   base and rounded, a fixed amount is taken off each unit (never more than
   the unit price);
3. voucher: the minimum order value is checked against the subtotal after
   promotions; a percentage or fixed amount is computed on that subtotal,
   rounded once, and spread over the lines in proportion to what is left of
   each (largest remainder, in minor units, so the line shares add up to the
   voucher's amount exactly and none exceeds its line); free shipping takes
   the whole shipping price;
4. shipping: the shipping price less a free-shipping discount;
5. taxes: per line and for shipping (at the standard rate) from the amount
   left after discounts. Prices entered gross (`prices_include_tax`):
   `gross = amount`, `net = round(gross / (1 + rate))`, `tax = gross - net`.
   Prices entered net: `net = amount`, `tax = round(net x rate)`,
   `gross = net + tax`. So `gross == net + tax` on every line, exactly;
6. gift cards: in the order given, each pays `min(its balance, what is left)`.

Rounding: half-up to the currency's minor unit, once per line and step as
written above; order totals are sums of rounded line values, never rounded
again, so they add up exactly:

    net_total + tax_total == gross_total
    subtotal - discount_total + shipping == gross_total   (prices entered gross)
    subtotal - discount_total + shipping == net_total     (prices entered net)
    total == gross_total - gift_card_total >= 0
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from djmoney.money import Money

from shop.core.money import minor_unit_quantum
from shop.pricing.exceptions import PriceCurrencyMismatch, VoucherInvalid, VoucherMinSpend
from shop.pricing.models import DiscountKind, TaxClass

HUNDRED = Decimal(100)


# --- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """One line to price: `unit_price` as entered in the catalogue (gross or net by the shop setting)."""

    key: str
    unit_price: Money
    quantity: int
    tax_class: str = TaxClass.STANDARD
    product_id: int | None = None
    category_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PromotionRule:
    """A catalogue promotion: `percentage` (percent) or `amounts` (per unit, by currency)."""

    id: int
    name: str
    kind: str
    percentage: Decimal | None = None
    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()

    def applies_to(self, line: LineInput) -> bool:
        return (line.product_id is not None and line.product_id in self.product_ids) or bool(
            self.category_ids & line.category_ids
        )


@dataclass(frozen=True)
class VoucherRule:
    """A voucher as priced: `amounts` and `minimum_spend` by currency."""

    code: str
    kind: str
    percentage: Decimal | None = None
    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    minimum_spend: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class GiftCardBalance:
    """A gift card the shopper applies: `key` identifies it in the result (e.g. its last four characters)."""

    key: str
    balance: Money


@dataclass(frozen=True)
class PricingInput:
    """Everything the pipeline needs; `tax_rates` maps tax class -> percent for `country`/`region`."""

    currency: str
    lines: Sequence[LineInput]
    country: str = ""
    region: str = ""
    tax_rates: Mapping[str, Decimal] = field(default_factory=dict)
    prices_include_tax: bool = True
    promotions: Sequence[PromotionRule] = ()
    voucher: VoucherRule | None = None
    shipping: Money | None = None
    gift_cards: Sequence[GiftCardBalance] = ()


# --- output --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    key: str
    quantity: int
    unit_price: Money
    base: Money
    promotion_discount: Money
    promotion_id: int | None
    voucher_discount: Money
    discount: Money
    net: Money
    tax_rate: Decimal
    tax: Money
    gross: Money

    @property
    def discounted_unit_price(self) -> Money:
        """The unit price after the catalogue promotion (the "new price" beside the old one)."""
        return self.unit_price - _round(self.promotion_discount / self.quantity)


@dataclass(frozen=True)
class TaxSummaryRow:
    rate: Decimal
    net: Money
    tax: Money
    gross: Money


@dataclass(frozen=True)
class GiftCardUse:
    key: str
    amount: Money


@dataclass(frozen=True)
class PricedOrder:
    currency: str
    prices_include_tax: bool
    lines: tuple[PricedLine, ...]
    subtotal: Money
    promotion_discount: Money
    voucher_discount: Money
    voucher_code: str | None
    shipping: Money | None
    shipping_discount: Money
    shipping_net: Money
    shipping_tax_rate: Decimal
    shipping_tax: Money
    shipping_gross: Money
    discount_total: Money
    net_total: Money
    tax_total: Money
    gross_total: Money
    gift_cards: tuple[GiftCardUse, ...]
    gift_card_total: Money
    total: Money
    tax_summary: tuple[TaxSummaryRow, ...]


# --- the pipeline --------------------------------------------------------------------------------


def price_order(data: PricingInput) -> PricedOrder:
    """Price a cart or an order: line prices, promotions, voucher, shipping, taxes, gift cards (see module doc)."""
    zero = Money(0, data.currency)
    _check_currencies(data)
    bases = [_round(line.unit_price) * line.quantity for line in data.lines]  # 1. line prices
    promotions = [  # 2. catalogue promotions
        _best_promotion(line, base, data.promotions, data.currency)
        for line, base in zip(data.lines, bases, strict=True)
    ]
    after_promotions = [base - promo for base, (promo, _id) in zip(bases, promotions, strict=True)]
    voucher_shares, shipping_discount = _voucher_discounts(data, after_promotions)  # 3. voucher
    lines = _priced_lines(data, bases, promotions, voucher_shares)  # 5. taxes on the lines
    shipping = _round(data.shipping) if data.shipping is not None else None  # 4. shipping, 5. its tax
    shipping_rate = _rate(data.tax_rates, TaxClass.STANDARD)
    shipping_net, shipping_tax, shipping_gross = _tax(
        (shipping or zero) - shipping_discount, shipping_rate, data.prices_include_tax
    )
    net_total = _sum([line.net for line in lines], zero) + shipping_net
    tax_total = _sum([line.tax for line in lines], zero) + shipping_tax
    gross_total = net_total + tax_total
    gift_cards = _gift_card_uses(data.gift_cards, gross_total)  # 6. gift cards
    gift_card_total = _sum([use.amount for use in gift_cards], zero)
    promotion_discount = _sum([line.promotion_discount for line in lines], zero)
    voucher_discount = _sum(voucher_shares, zero) + shipping_discount
    return PricedOrder(
        currency=data.currency,
        prices_include_tax=data.prices_include_tax,
        lines=lines,
        subtotal=_sum(bases, zero),
        promotion_discount=promotion_discount,
        voucher_discount=voucher_discount,
        voucher_code=data.voucher.code if data.voucher else None,
        shipping=shipping,
        shipping_discount=shipping_discount,
        shipping_net=shipping_net,
        shipping_tax_rate=shipping_rate,
        shipping_tax=shipping_tax,
        shipping_gross=shipping_gross,
        discount_total=promotion_discount + voucher_discount,
        net_total=net_total,
        tax_total=tax_total,
        gross_total=gross_total,
        gift_cards=gift_cards,
        gift_card_total=gift_card_total,
        total=gross_total - gift_card_total,
        tax_summary=_tax_summary(
            lines, shipping is not None, shipping_rate, shipping_net, shipping_tax, zero
        ),
    )


def _priced_lines(
    data: PricingInput,
    bases: list[Money],
    promotions: list[tuple[Money, int | None]],
    voucher_shares: list[Money],
) -> tuple[PricedLine, ...]:
    """Each line with its discounts and its tax on what is left after them."""
    lines = []
    for line, base, (promo, promotion_id), share in zip(
        data.lines, bases, promotions, voucher_shares, strict=True
    ):
        rate = _rate(data.tax_rates, line.tax_class)
        net, tax, gross = _tax(base - promo - share, rate, data.prices_include_tax)
        lines.append(
            PricedLine(
                key=line.key,
                quantity=line.quantity,
                unit_price=_round(line.unit_price),
                base=base,
                promotion_discount=promo,
                promotion_id=promotion_id,
                voucher_discount=share,
                discount=promo + share,
                net=net,
                tax_rate=rate,
                tax=tax,
                gross=gross,
            )
        )
    return tuple(lines)


# --- the steps -----------------------------------------------------------------------------------


def _round(money: Money) -> Money:
    quantum = minor_unit_quantum(money.currency.code)
    return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), money.currency.code)


def _sum(amounts: Sequence[Money], zero: Money) -> Money:
    return sum(amounts, zero)


def _check_currencies(data: PricingInput) -> None:
    amounts = [line.unit_price for line in data.lines] + [card.balance for card in data.gift_cards]
    if data.shipping is not None:
        amounts.append(data.shipping)
    if any(amount.currency.code != data.currency for amount in amounts):
        raise PriceCurrencyMismatch()
    if any(line.quantity < 1 for line in data.lines):
        raise ValueError("a line's quantity is at least 1")


def _promotion_amount(promotion: PromotionRule, line: LineInput, base: Money, currency: str) -> Money:
    """What `promotion` takes off `line` (zero when it has no amount in `currency`), never more than the line."""
    if promotion.kind == DiscountKind.PERCENTAGE:
        off = _round(base * promotion.percentage / HUNDRED)
    else:
        per_unit = promotion.amounts.get(currency)
        if per_unit is None:
            return Money(0, currency)
        off = min(Money(per_unit, currency), _round(line.unit_price)) * line.quantity
    return min(off, base)


def _best_promotion(
    line: LineInput, base: Money, promotions: Sequence[PromotionRule], currency: str
) -> tuple[Money, int | None]:
    """(discount, promotion id) of the applicable promotion that takes the most; ties go to the lower id."""
    best, best_id = Money(0, currency), None
    for promotion in sorted(promotions, key=lambda p: p.id):
        if not promotion.applies_to(line):
            continue
        off = _promotion_amount(promotion, line, base, currency)
        if off > best:
            best, best_id = off, promotion.id
    return best, best_id


def unit_price_promoted(
    *, unit_price: Money, product_id: int | None, category_ids: frozenset[int], promotions: Sequence[PromotionRule]
) -> tuple[Money, int | None]:
    """(price, promotion id) of one unit after step 2: what a cart line of one unit pays before vouchers.

    The listing's "new price": the same rule (`_best_promotion`) on the same line the cart builds.
    """
    line = LineInput(key="", unit_price=unit_price, quantity=1, product_id=product_id, category_ids=category_ids)
    base = _round(unit_price)
    off, promotion_id = _best_promotion(line, base, promotions, unit_price.currency.code)
    return base - off, promotion_id


def _voucher_discounts(data: PricingInput, amounts: list[Money]) -> tuple[list[Money], Money]:
    """(per-line voucher shares, shipping discount); checks the voucher's minimum order value."""
    currency = data.currency
    zero = Money(0, currency)
    voucher = data.voucher
    if voucher is None:
        return [zero for _amount in amounts], zero
    subtotal = _sum(amounts, zero)
    minimum = voucher.minimum_spend.get(currency)
    if minimum is not None and subtotal < Money(minimum, currency):
        raise VoucherMinSpend(minimum_spend={"amount": str(minimum), "currency": currency})
    if voucher.kind == DiscountKind.FREE_SHIPPING:
        return [zero for _amount in amounts], _round(data.shipping) if data.shipping is not None else zero
    if voucher.kind == DiscountKind.PERCENTAGE:
        total = _round(subtotal * voucher.percentage / HUNDRED)
    else:
        fixed = voucher.amounts.get(currency)
        if fixed is None:
            raise VoucherInvalid(field="code")
        total = min(Money(fixed, currency), subtotal)
    return _spread(total, amounts), zero


def _spread(total: Money, amounts: list[Money]) -> list[Money]:
    """`total` shared over `amounts` in proportion, in whole minor units (largest remainder); sums to `total`."""
    currency = total.currency.code
    quantum = minor_unit_quantum(currency)
    units = [int(amount.amount / quantum) for amount in amounts]
    whole = sum(units)
    target = int(total.amount / quantum)
    if whole == 0 or target == 0:
        return [Money(0, currency) for _amount in amounts]
    shares = [target * unit // whole for unit in units]
    remainders = sorted(range(len(units)), key=lambda i: (-(target * units[i] % whole), i))
    for i in remainders[: target - sum(shares)]:
        shares[i] += 1
    return [Money(share * quantum, currency) for share in shares]


def _rate(rates: Mapping[str, Decimal], tax_class: str) -> Decimal:
    """The percent rate of `tax_class`; a class without a rate (a country without tax) is zero."""
    return Decimal(rates.get(tax_class, Decimal(0)))


def _tax(amount: Money, rate: Decimal, prices_include_tax: bool) -> tuple[Money, Money, Money]:
    """(net, tax, gross) of an amount after discounts, rounded once; gross == net + tax."""
    if prices_include_tax:
        net = _round(amount / (1 + rate / HUNDRED))
        return net, amount - net, amount
    tax = _round(amount * rate / HUNDRED)
    return amount, tax, amount + tax


def _gift_card_uses(cards: Sequence[GiftCardBalance], payable: Money) -> tuple[GiftCardUse, ...]:
    """Each card, in order, pays what it can of what is left; the total never goes below zero."""
    uses = []
    left = payable
    for card in cards:
        take = min(card.balance, left)
        if take.amount <= 0:
            continue
        uses.append(GiftCardUse(key=card.key, amount=take))
        left -= take
    return tuple(uses)


def _tax_summary(
    lines, has_shipping, shipping_rate, shipping_net, shipping_tax, zero
) -> tuple[TaxSummaryRow, ...]:
    """Net, tax and gross per rate (lines and shipping), highest rate first; adds up to the order's totals."""
    rows: dict[Decimal, list[Money]] = {}
    parts = [(line.tax_rate, line.net, line.tax) for line in lines]
    if has_shipping:
        parts.append((shipping_rate, shipping_net, shipping_tax))
    for rate, net, tax in parts:
        row = rows.setdefault(rate, [zero, zero])  # 19 and 19.000 are one key
        row[0] += net
        row[1] += tax
    return tuple(
        TaxSummaryRow(rate=rate, net=net, tax=tax, gross=net + tax)
        for rate, (net, tax) in sorted(rows.items(), key=lambda item: -item[0])
    )
