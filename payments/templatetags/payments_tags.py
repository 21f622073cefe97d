from django import template

from payments.selectors import statement_words

register = template.Library()


@register.filter
def entry_words(entry) -> str:
    """A ledger entry of a wallet as the shopper reads it ("Payment for order 2026-000012")."""
    return statement_words(entry.transaction, entry.amount)
