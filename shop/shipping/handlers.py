"""Callbacks that higher apps register for carrier events (no upward imports).

`shop.orders` registers, in its AppConfig.ready, what a shipped or delivered
event does to a shipment. Shipping calls every handler with the recorded
`CarrierEvent`, inside the transaction that records it: a handler that raises
rolls the record back, the webhook answers 500 and the carrier delivers the
event again.
"""

from collections.abc import Callable

CarrierEventHandler = Callable[..., None]  # handler(event: CarrierEvent) -> None

_registry: list[CarrierEventHandler] = []


def carrier_event_handler_register(handler: CarrierEventHandler) -> CarrierEventHandler:
    """Call `handler(event)` for every new verified carrier event (registering twice adds it once)."""
    if handler not in _registry:
        _registry.append(handler)
    return handler


def carrier_event_handler_unregister(handler: CarrierEventHandler) -> None:
    """Take `handler` out (no-op when it is not registered)."""
    if handler in _registry:
        _registry.remove(handler)


def carrier_event_dispatch(event) -> None:
    """Hand a newly recorded event to every registered handler, in registration order."""
    for handler in list(_registry):
        handler(event)
