"""Celery tasks of the engagement app: each calls one service."""

from celery import shared_task

from catalog.engagement.services import stock_alerts_send


@shared_task(name="catalog.engagement.tasks.send_stock_alerts")
def send_stock_alerts(product_id: int) -> int:
    """E-mail the product's due back-in-stock alerts; safe to run twice (each is sent once)."""
    return stock_alerts_send(product_id=product_id)
