"""Money helpers shared by every app: currency choice, conversion, rounding.

Amounts are always Decimal with a currency (py-moneyed `Money`); conversion
uses the exchange rates stored in the database by django-money and rounds
half-up to the target currency's minor unit.
"""

import json
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import Rate, get_rate
from djmoney.money import Money
from moneyed import get_currency

SESSION_CURRENCY_KEY = "currency"


def minor_unit_quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`: 0.01 for USD, 1 for JPY."""
    digits = get_currency(str(currency)).sub_unit
    places = len(str(digits)) - 1 if digits else 0
    return Decimal(1).scaleb(-places)


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
