"""The cart's part of a personal-data export and erasure (registered in CartConfig.ready)."""

from shop.cart.models import Cart, CartLine


def cart_export(*, user) -> list[dict]:
    """The lines of the person's saved cart."""
    lines = CartLine.objects.filter(cart__user=user).select_related("product").order_by("created_at", "id")
    return [
        {
            "sku": line.product.sku,
            "name": line.product.name,
            "quantity": line.quantity,
            "price_seen": {"amount": line.price_seen.amount, "currency": str(line.price_seen.currency)},
            "added_at": line.created_at,
        }
        for line in lines
    ]


def cart_erase(*, user) -> dict:
    """Delete the person's saved cart and its lines."""
    lines = CartLine.objects.filter(cart__user=user).count()
    Cart.objects.filter(user=user).delete()
    return {"cart_lines": lines}
