"""The countries the shop ships to, as ISO 3166-1 alpha-2 codes."""

from django.utils.translation import gettext_lazy as _

COUNTRY_CHOICES = [
    ("AT", _("Austria")),
    ("AU", _("Australia")),
    ("BE", _("Belgium")),
    ("CA", _("Canada")),
    ("CH", _("Switzerland")),
    ("CZ", _("Czechia")),
    ("DE", _("Germany")),
    ("DK", _("Denmark")),
    ("ES", _("Spain")),
    ("FI", _("Finland")),
    ("FR", _("France")),
    ("GB", _("United Kingdom")),
    ("IE", _("Ireland")),
    ("IT", _("Italy")),
    ("JP", _("Japan")),
    ("LU", _("Luxembourg")),
    ("NL", _("Netherlands")),
    ("NO", _("Norway")),
    ("NZ", _("New Zealand")),
    ("PL", _("Poland")),
    ("PT", _("Portugal")),
    ("SE", _("Sweden")),
    ("US", _("United States")),
]
COUNTRY_CODES = frozenset(code for code, _name in COUNTRY_CHOICES)


def country_name(code: str) -> str:
    return str(dict(COUNTRY_CHOICES).get(code, code))
