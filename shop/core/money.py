"""Money helpers shared by every app: currency choice, conversion, rounding.

Amounts are always Decimal with a currency (py-moneyed `Money`); conversion
uses the exchange rates stored in the database by django-money and rounds
half-up to the target currency's minor unit.
"""

import json
import re
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import Rate, get_rate
from djmoney.money import Money
from moneyed import get_currency

SESSION_CURRENCY_KEY = "currency"
# The most integer digits an amount a shopper types may have (below 10^12 of any currency).
AMOUNT_MAX_INTEGER_DIGITS = 12
# ASCII digits only ([0-9], never \d, which takes any script's digits), no sign, exponent,
# underscore, space or leading zero; a dot only between digits.
_AMOUNT_FORM = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")


class AmountInvalid(ValueError):
    """An amount not in the documented form; `message` tells the shopper why."""

    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


def minor_unit_quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`: 0.01 for USD, 1 for JPY."""
    digits = get_currency(str(currency)).sub_unit
    places = len(str(digits)) - 1 if digits else 0
    return Decimal(1).scaleb(-places)


def minor_unit_places(currency: str) -> int:
    """Decimal places of `currency`'s minor unit: 2 for USD, 0 for JPY."""
    return -minor_unit_quantum(currency).as_tuple().exponent


def amount_parse(raw, currency: str) -> Decimal:
    """The positive amount `raw` (a string as a shopper or app sends it) in `currency`, strictly.

    The one parser of amounts for pages and API alike: ASCII digits with an
    optional "." and at most the currency's minor-unit places, greater than
    zero, under 10^12. Refuses (AmountInvalid) anything else, rather than
    reading full-width digits, "1_000", "1E+3" or " 1.00" as numbers.
    `amount_pattern` is the same rule as a regular expression, for the schema.
    """
    match = _AMOUNT_FORM.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise AmountInvalid(_("Enter the amount as digits with an optional decimal point, e.g. 12.50."))
    whole, fraction = match.group(1), match.group(2) or ""
    places = minor_unit_places(currency)
    if len(fraction) > places:
        raise AmountInvalid(_("Use at most %(places)s decimal places.") % {"places": places})
    if len(whole) > AMOUNT_MAX_INTEGER_DIGITS:
        raise AmountInvalid(_("The amount is too large."))
    amount = Decimal(raw)
    if amount <= 0:
        raise AmountInvalid(_("The amount must be greater than zero."))
    return amount.quantize(minor_unit_quantum(currency))


def amount_pattern(places: int) -> str:
    """The regular expression (ECMA and Python alike) of what `amount_parse` takes with `places` places."""
    whole = f"[1-9][0-9]{{0,{AMOUNT_MAX_INTEGER_DIGITS - 1}}}"
    if places == 0:
        return f"^{whole}$"
    # Below one: "0." and a fraction with at least one non-zero digit.
    small = "|".join(
        "0" * zeros + "[1-9]" + (f"[0-9]{{0,{places - 1 - zeros}}}" if zeros < places - 1 else "")
        for zeros in range(places)
    )
    return f"^({whole}(\\.[0-9]{{1,{places}}})?|0\\.({small}))$"


def money_round(money: Money) -> Money:
    """Round to the currency's minor unit, half up."""
    quantum = minor_unit_quantum(money.currency.code)
    return Money(money.amount.quantize(quantum, rounding=ROUND_HALF_UP), money.currency.code)


def exchange_rate(source: str, target: str) -> Decimal:
    """The stored rate source -> target.

    A database that never had rates (a fresh install that skipped
    `load_exchange_rates`) gets the repository's rates file loaded once,
    rather than every converted price failing; a rate missing from a loaded
    table is still an error for staff to fix.
    """
    if source == target:
        return Decimal(1)
    try:
        return Decimal(get_rate(source, target))
    except MissingRate:
        if Rate.objects.exists():
            raise
        FileRatesBackend().update_rates(base_currency=settings.BASE_CURRENCY)
        return Decimal(get_rate(source, target))


def money_convert(money: Money, currency: str) -> Money:
    """Convert to `currency` with the stored rates, rounded to its minor unit."""
    if money.currency.code == currency:
        return money_round(money)
    rate = exchange_rate(money.currency.code, currency)
    return money_round(Money(money.amount * rate, currency))


def currency_is_supported(currency: str) -> bool:
    return currency in settings.CURRENCIES


def request_currency(request) -> str:
    """The display/checkout currency the shopper picked (session), else the default."""
    session = getattr(request, "session", None)
    currency = session.get(SESSION_CURRENCY_KEY) if session is not None else None
    return currency if currency in settings.CURRENCIES else settings.DEFAULT_CURRENCY


def money_to_dict(money: Money) -> dict:
    """API representation: amount as a string with the currency's minor units."""
    rounded = money_round(money)
    return {"amount": str(rounded.amount), "currency": rounded.currency.code}


class FileRatesBackend(BaseExchangeBackend):
    """Exchange rates from a JSON file in the repository: {"base": "USD", "rates": {...}}."""

    name = "file"

    def get_rates(self, **kwargs):
        with open(settings.EXCHANGE_RATES_FILE, encoding="utf-8") as fh:
            data = json.load(fh, parse_float=Decimal)
        return {code: Decimal(str(value)) for code, value in data["rates"].items()}
