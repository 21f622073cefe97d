"""Celery tasks: each loads by id and calls one service; all are safe to run twice."""

from celery import shared_task

from shop.orders.services import outbox, payment_handlers, transitions


@shared_task(name="shop.orders.tasks.expire_reservations")
def expire_reservations() -> int:
    return transitions.order_expire_reservations()


@shared_task(name="shop.orders.tasks.drain_outbox")
def drain_outbox() -> int:
    return outbox.outbox_drain()


@shared_task(name="shop.orders.tasks.send_order_email")
def send_order_email(*outbox_ids: int) -> int:
    """Send these outbox e-mails (one, or those a transaction queued together); how many went out now."""
    return sum(outbox.outbox_email_send(outbox_id=outbox_id) for outbox_id in outbox_ids)


@shared_task(name="shop.orders.tasks.refund_late_payment")
def refund_late_payment(payment_id: int, number: str) -> None:
    payment_handlers.payment_late_refund(payment_id=payment_id, number=number)
