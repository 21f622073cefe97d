"""Postal codes checked per country for the shop's main countries; other countries are accepted as typed.

DE and FR: five digits. GB: the Royal Mail postcode pattern (outward code, a
space optional, inward code; stored upper case with the one space). US: a ZIP
code, five digits or ZIP+4 (12345-6789). Elsewhere any non-empty code of up to
20 characters of letters, digits, spaces and hyphens.
"""

import re

from django.utils.translation import gettext_lazy as _

_GB = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$")
_PATTERNS = {
    "DE": (re.compile(r"^[0-9]{5}$"), _("Enter a German postal code of five digits, such as 10115.")),
    "FR": (re.compile(r"^[0-9]{5}$"), _("Enter a French postal code of five digits, such as 75001.")),
    "GB": (_GB, _("Enter a UK postcode, such as SW1A 1AA.")),
    "US": (
        re.compile(r"^[0-9]{5}(-[0-9]{4})?$"),
        _("Enter a ZIP code of five digits, or ZIP+4 such as 12345-6789."),
    ),
}
_LENIENT = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,19}$")


class PostalCodeInvalid(ValueError):
    """The postal code does not fit the country; `message` says what would."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def postal_code_normalize(country: str, postal_code: str) -> str:
    """The code as stored for `country` (trimmed, upper case; a GB postcode with its one space);
    PostalCodeInvalid when it does not fit the country's pattern."""
    country = (country or "").strip().upper()
    code = " ".join((postal_code or "").split()).upper()
    pattern, message = _PATTERNS.get(country, (_LENIENT, _("Enter a valid postal code.")))
    if country == "GB":
        code = code.replace(" ", "")
        code = f"{code[:-3]} {code[-3:]}" if len(code) > 3 else code
    if not pattern.match(code):
        raise PostalCodeInvalid(message)
    return code
