"""Catalog domain errors; each carries a machine code for API clients."""

from django.utils.translation import gettext_lazy as _

from shop.exceptions import ShopError


class OutOfStock(ShopError):
    code = "out_of_stock"
    status_code = 409
    default_message = _("Not enough stock for this product.")

    def __init__(self, message=None, *, product_id: int, available: int | None = None, **extra):
        self.product_id = product_id
        self.available = available
        super().__init__(message, product_id=product_id, available=available, **extra)


class ProductNotFound(ShopError):
    code = "product_not_found"
    status_code = 404
    default_message = _("Product not found.")


class InvalidQuantity(ShopError):
    code = "invalid_quantity"
    status_code = 400
    default_message = _("The quantity must be a positive whole number.")


class NotABuyer(ShopError):
    code = "not_a_buyer"
    status_code = 403
    default_message = _("Only customers who bought this product can review it.")


class AlreadyReviewed(ShopError):
    code = "already_reviewed"
    status_code = 409
    default_message = _("You have already reviewed this product.")


class InvalidRating(ShopError):
    code = "invalid"
    status_code = 400
    default_message = _("The rating must be a whole number from 1 to 5.")


class ImportFailed(ShopError):
    code = "import_failed"
    status_code = 400
    default_message = _("The file could not be imported.")
