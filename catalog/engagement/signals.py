"""The restock hook: stock movements that add units on hand tell the waiting alerts.

A receiver, not an edit of catalog.services.stock: post_save of a StockMovement runs
inside the stock service's transaction, so the alerts are marked due exactly when the
units are committed, and the e-mails start after commit.
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from catalog.engagement.services import stock_alerts_mark_due
from catalog.models import StockMovement


@receiver(post_save, sender=StockMovement, dispatch_uid="engagement.stock_alerts_on_restock")
def stock_movement_saved(sender, instance: StockMovement, created: bool, **kwargs) -> None:
    if created and instance.on_hand_delta > 0 and instance.kind in {
        StockMovement.Kind.RESTOCK, StockMovement.Kind.ADJUSTMENT
    }:
        stock_alerts_mark_due(product_id=instance.product_id, variant_id=instance.variant_id)
