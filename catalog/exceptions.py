"""Catalog domain errors; each carries a machine code for API clients."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from shop.core.exceptions import CoreErrorCode, ShopError, error_codes


@error_codes
class CatalogErrorCode(TextChoices):
    """Machine codes of this app's errors (the `code` of an API error body)."""

    OUT_OF_STOCK = "out_of_stock"
    PRODUCT_NOT_FOUND = "product_not_found"
    INVALID_QUANTITY = "invalid_quantity"
    NOT_A_BUYER = "not_a_buyer"
    ALREADY_REVIEWED = "already_reviewed"
    IMPORT_FAILED = "import_failed"
    STOCK_INVALID = "stock_invalid"
    VARIANT_REQUIRED = "variant_required"
    VARIANT_INVALID = "variant_invalid"
    OWN_REVIEW_VOTE = "own_review_vote"
    REVIEW_NOT_FOUND = "review_not_found"
    STOCK_NOT_COMMITTED = "stock_not_committed"


class OutOfStock(ShopError):
    code = CatalogErrorCode.OUT_OF_STOCK
    status_code = 409
    default_message = _("Not enough stock for this product.")

    def __init__(
        self, message=None, *, product_id: int, available: int | None = None, variant_id: int | None = None,
        requested: int | None = None, **extra,
    ):
        self.product_id = product_id
        self.available = available
        self.variant_id = variant_id
        self.requested = requested
        if variant_id is not None:
            extra.update(variant_id=variant_id, requested=requested)
        super().__init__(message, product_id=product_id, available=available, **extra)


class ProductNotFound(ShopError):
    code = CatalogErrorCode.PRODUCT_NOT_FOUND
    status_code = 404
    default_message = _("Product not found.")


class InvalidQuantity(ShopError):
    code = CatalogErrorCode.INVALID_QUANTITY
    status_code = 400
    default_message = _("The quantity must be a positive whole number.")


class NotABuyer(ShopError):
    code = CatalogErrorCode.NOT_A_BUYER
    status_code = 403
    default_message = _("Only customers who bought this product can review it.")


class AlreadyReviewed(ShopError):
    code = CatalogErrorCode.ALREADY_REVIEWED
    status_code = 409
    default_message = _("You have already reviewed this product.")


class InvalidRating(ShopError):
    code = CoreErrorCode.INVALID
    status_code = 400
    default_message = _("The rating must be a whole number from 1 to 5.")


class ImportFailed(ShopError):
    code = CatalogErrorCode.IMPORT_FAILED
    status_code = 400
    default_message = _("The file could not be imported.")


class StockInvalid(ShopError):
    """A stock operation names an unknown warehouse or moves stock nowhere."""

    code = CatalogErrorCode.STOCK_INVALID
    status_code = 400
    default_message = _("Choose an existing warehouse (and a different one to transfer to).")


class StockNotCommitted(ShopError):
    """A shipment (or a cancelled sale) takes more sold units than wait in the warehouse."""

    code = CatalogErrorCode.STOCK_NOT_COMMITTED
    status_code = 409
    default_message = _("Fewer sold units wait in this warehouse than this takes.")

    def __init__(self, message=None, *, variant_id: int, warehouse_id: int, requested: int, **extra):
        super().__init__(message, variant_id=variant_id, warehouse_id=warehouse_id, requested=requested, **extra)


class VariantRequired(ShopError):
    code = CatalogErrorCode.VARIANT_REQUIRED
    status_code = 400
    default_message = _("This product comes in several variants: choose one.")


class VariantInvalid(ShopError):
    """A variant of another product, or an option value its product type does not have."""

    code = CatalogErrorCode.VARIANT_INVALID
    status_code = 400
    default_message = _("This variant does not belong to this product.")


class OwnReviewVote(ShopError):
    code = CatalogErrorCode.OWN_REVIEW_VOTE
    status_code = 403
    default_message = _("You cannot vote for your own review.")


class ReviewNotFound(ShopError):
    code = CatalogErrorCode.REVIEW_NOT_FOUND
    status_code = 404
    default_message = _("Review not found.")
