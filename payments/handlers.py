"""Callbacks that higher apps register for payment outcomes (no upward imports).

`orders` registers, in its AppConfig.ready, what happens to an order when its
payment succeeds, fails or is refunded. Payments calls the callbacks inside
the same database transaction that changes the payment.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PaymentHandlers:
    on_succeeded: Callable
    on_failed: Callable
    on_refunded: Callable | None = None


_registry: dict[str, PaymentHandlers] = {}


def register(purpose: str, *, on_succeeded: Callable, on_failed: Callable, on_refunded: Callable | None = None):
    """Register the callbacks for payments of `purpose` (replaces an earlier registration)."""
    _registry[purpose] = PaymentHandlers(on_succeeded=on_succeeded, on_failed=on_failed, on_refunded=on_refunded)


def unregister(purpose: str) -> None:
    _registry.pop(purpose, None)


def get(purpose: str) -> PaymentHandlers | None:
    return _registry.get(purpose)


def notify_succeeded(payment) -> None:
    handlers = _registry.get(payment.purpose)
    if handlers:
        handlers.on_succeeded(payment)


def notify_failed(payment) -> None:
    handlers = _registry.get(payment.purpose)
    if handlers:
        handlers.on_failed(payment)


def notify_refunded(payment, refund) -> None:
    handlers = _registry.get(payment.purpose)
    if handlers and handlers.on_refunded:
        handlers.on_refunded(payment, refund)
