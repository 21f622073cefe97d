"""The countries the shop ships to, as ISO 3166-1 alpha-2 codes, named by django-countries.

The codes are the ones addresses, orders and shipping zones already store, so
nothing stored changes; the names (and their translations) come from the
maintained django-countries library instead of a list kept here.
"""

from django_countries import Countries

SHOP_COUNTRY_CODES = (
    "AT", "AU", "BE", "CA", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB",
    "IE", "IT", "JP", "LU", "NL", "NO", "NZ", "PL", "PT", "SE", "US",
)  # fmt: skip


class ShopCountries(Countries):
    """The shop's countries only (the choices of an address's country field)."""

    only = SHOP_COUNTRY_CODES


shop_countries = ShopCountries()
COUNTRY_CODES = frozenset(SHOP_COUNTRY_CODES)


def country_choices() -> list[tuple[str, str]]:
    """(code, name) of the shop's countries, sorted by name in the active language (a form field's
    `choices`: passed as the callable, it is read again for each form, in that request's language)."""
    return [(country.code, str(country.name)) for country in shop_countries]


def country_name(code: str) -> str:
    """The country's name in the active language (the code itself when it is not one of the shop's)."""
    return str(shop_countries.name(code)) if code in COUNTRY_CODES else code
