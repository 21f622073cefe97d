"""Payments of guests (no account): given to the account that later proves it owns the guest's e-mail."""

from django.db import transaction

from payments.models import Payment


def payments_attach_to_user(*, user, purpose: str, references: list[str]) -> int:
    """Give the guest payments (no user) of these references to `user`; returns how many. Idempotent."""
    if not references:
        return 0
    with transaction.atomic():
        return Payment.objects.filter(user__isnull=True, purpose=purpose, reference__in=references).update(
            user=user
        )
