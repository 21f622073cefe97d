"""A guest's past orders join the account that verifies the guest's e-mail address.

Only a verified address attaches anything (allauth's email_confirmed, connected
in OrdersConfig.ready): signing up with someone else's e-mail, unverified,
shows none of their orders.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from payments.models import Payment
from payments.services.guest_payments import payments_attach_to_user
from shop.orders.models import Order
from shop.orders.services.transitions import order_note


def guest_orders_attach(*, user, email: str) -> list[str]:
    """Give the guest orders placed with `email` (any case) to `user`, with their payments; each gets a
    note in its timeline. Returns their numbers. Takes the orders' row locks; idempotent."""
    email = (email or "").strip()
    if not email or user is None or not user.pk:
        return []
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update().filter(user__isnull=True, email__iexact=email).order_by("id")
        )
        if not orders:
            return []
        numbers = [order.number for order in orders]
        Order.objects.filter(pk__in=[order.pk for order in orders]).update(user=user)
        payments_attach_to_user(user=user, purpose=Payment.Purpose.ORDER, references=numbers)
        for order in orders:
            order.user = user
            order_note(
                order,
                actor=user,
                reason=_("Attached to the account that verified %(email)s") % {"email": email},
            )
    return numbers


def on_email_confirmed(sender, request=None, email_address=None, **kwargs) -> None:
    """allauth's email_confirmed: the verified address's guest orders join its account."""
    if email_address is not None and email_address.verified:
        guest_orders_attach(user=email_address.user, email=email_address.email)
