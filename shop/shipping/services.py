"""Writes: recording a verified carrier event once and handing it to the registered handlers."""

from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _

from shop.shipping.handlers import carrier_event_dispatch
from shop.shipping.models import Carrier, CarrierEvent


class CarrierEventResult(models.TextChoices):
    """What a verified carrier event did."""

    RECORDED = "recorded", _("Recorded")
    DUPLICATE = "duplicate", _("Duplicate")
    IGNORED = "ignored", _("Ignored")


def carrier_event_record(
    *, carrier: Carrier, event_id: str, tracking_number: str, status: str, payload: dict
) -> CarrierEventResult:
    """Record a verified event once per (carrier, event id) and dispatch it to the handlers.

    A redelivery (same carrier and id) is a duplicate: nothing is recorded or
    dispatched again. A status the shop does not track yet (anything but
    shipped or delivered) is ignored. The record and the handlers share one
    transaction; the unique constraint, not a read, decides who was first.
    """
    if status not in CarrierEvent.Status.values:
        return CarrierEventResult.IGNORED
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = CarrierEvent.objects.create(
                    carrier=carrier,
                    event_id=event_id,
                    tracking_number=tracking_number,
                    status=status,
                    payload=payload,
                )
        except IntegrityError:
            return CarrierEventResult.DUPLICATE
        carrier_event_dispatch(event)
    return CarrierEventResult.RECORDED
