"""Catalog state: categories, products and their variants, warehouses, stock, reviews, purchases, recommendations.

Stock counters change only through catalog.services (guarded UPDATEs); every
change leaves an append-only StockMovement so that
on_hand == sum(movement.on_hand_delta) and reserved == sum(open reservations),
per variant and warehouse.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from treebeard.mp_tree import MP_Node


class Category(MP_Node):
    """A node of the category tree (materialized path: descendants are a prefix match)."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    description = models.TextField(_("description"), blank=True)

    node_order_by = ["name"]

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("catalog:category", kwargs={"slug": self.slug})


class ProductType(models.Model):
    """What kind of product: says which options (size, colour, ...) its variants differ in."""

    name = models.CharField(_("name"), max_length=120, unique=True)

    class Meta:
        verbose_name = _("product type")
        verbose_name_plural = _("product types")
        ordering = ["name"]

    def __str__(self):
        return self.name


class ProductOption(models.Model):
    """One way the variants of a product type differ ("size"), with its allowed values."""

    product_type = models.ForeignKey(
        ProductType, verbose_name=_("product type"), on_delete=models.CASCADE, related_name="options"
    )
    code = models.SlugField(_("code"), max_length=30, help_text=_("the key in the API's options, e.g. size"))
    name = models.CharField(_("name"), max_length=60)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("option")
        verbose_name_plural = _("options")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product_type", "code"], name="catalog_option_unique_code"),
        ]

    def __str__(self):
        return self.name


class OptionValue(models.Model):
    """One allowed value of an option. `value` is the stable key (the API's options, attr=size:M);
    `label` is what shoppers read, translated, the value when empty."""

    option = models.ForeignKey(ProductOption, verbose_name=_("option"), on_delete=models.CASCADE, related_name="values")
    value = models.CharField(_("value"), max_length=60)
    label = models.CharField(_("label"), max_length=60, blank=True, help_text=_("shown to shoppers; the value when empty"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("option value")
        verbose_name_plural = _("option values")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["option", "value"], name="catalog_optionvalue_unique"),
        ]

    def __str__(self):
        return self.value

    @property
    def display(self) -> str:
        """The label in the active language (English as the fallback), else the value."""
        return self.label or self.value


class Product(models.Model):
    """A sellable item. Prices are kept in the shop's default currency."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    slug = models.SlugField(_("slug"), max_length=220, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    brand = models.CharField(_("brand"), max_length=100, blank=True, db_index=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    product_type = models.ForeignKey(
        ProductType,
        verbose_name=_("product type"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    price = MoneyField(
        _("price"),
        max_digits=12,
        decimal_places=2,
        default_currency=settings.DEFAULT_CURRENCY,
        currency_choices=[(settings.DEFAULT_CURRENCY, settings.DEFAULT_CURRENCY)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    # The lowest price over its variants (own, else this product's) in the default currency, for price
    # filters and facets; kept by catalog.services.prices.product_price_from_refresh on every write of
    # a price (product or variant), never edited.
    price_from_base = models.DecimalField(
        _("from price"), max_digits=12, decimal_places=2, default=0, editable=False
    )
    # Buying it issues a gift card of the paid line's value, its code e-mailed to the buyer (shop.orders).
    is_gift_card = models.BooleanField(_("gift card"), default=False)
    thumbnail = models.ImageField(_("thumbnail"), upload_to="catalog/thumbs/", blank=True)
    rating_avg = models.DecimalField(_("average rating"), max_digits=3, decimal_places=2, default=0)
    rating_count = models.PositiveIntegerField(_("number of ratings"), default=0)
    # Kept current by catalog.services (PostgreSQL only; NULL on SQLite).
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [
            # One per sort order, ties included: a page of 20 is read straight off the index
            # instead of sorting every product with the same rating (or price, or date).
            models.Index(fields=["is_active", "price", "id"], name="catalog_prod_active_price"),
            models.Index(fields=["is_active", "price_from_base"], name="catalog_prod_active_from"),
            models.Index(fields=["is_active", "-created_at", "-id"], name="catalog_prod_active_new"),
            models.Index(
                fields=["is_active", "-rating_avg", "-rating_count", "-id"], name="catalog_prod_active_rating"
            ),
            models.Index(fields=["is_active", "name", "id"], name="catalog_prod_active_name"),
            models.Index(fields=["category", "is_active"], name="catalog_prod_cat_active"),
            # "Similar products": the best rated of one category, read off the index (a category of
            # 5,000 products was sorted whole on every first view of a product page).
            models.Index(fields=["category", "is_active", "-rating_avg", "-id"], name="catalog_prod_cat_rating"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_product_price_not_negative"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("catalog:product", kwargs={"slug": self.slug})

    @property
    def thumbnail_url(self) -> str:
        return self.thumbnail.url if self.thumbnail else ""


class ProductImage(models.Model):
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("image"), upload_to="catalog/images/")
    thumbnail = models.ImageField(_("thumbnail"), upload_to="catalog/thumbs/", blank=True)
    # Set: a picture of that variant only (its colour); NULL: of the product.
    variant = models.ForeignKey(
        "ProductVariant",
        verbose_name=_("variant"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="images",
    )
    alt = models.CharField(_("alternative text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["position", "id"]

    def __str__(self):
        return self.alt or self.image.name


class ProductVariant(models.Model):
    """What is sold and stocked: one combination of the product type's option values.

    A product with no options has exactly one variant (its default), so
    cart, orders and stock all speak variants. The option values are checked
    against the product type by catalog.services.variants (one per option).
    """

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    option_values = models.ManyToManyField(
        OptionValue, verbose_name=_("option values"), blank=True, related_name="variants"
    )
    # NULL: the product's price.
    price = MoneyField(
        _("price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        default_currency=settings.DEFAULT_CURRENCY,
        currency_choices=[(settings.DEFAULT_CURRENCY, settings.DEFAULT_CURRENCY)],
    )
    weight_grams = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)
    is_default = models.BooleanField(_("default"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["position", "id"]
        # Search finds a variant by its SKU in any case (sku__iexact is UPPER(sku) = UPPER(q) on PostgreSQL).
        indexes = [models.Index(Upper("sku"), name="catalog_variant_sku_upper")]
        constraints = [
            models.UniqueConstraint(
                fields=["product"], condition=Q(is_default=True), name="catalog_variant_one_default"
            ),
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gte=0), name="catalog_variant_price_not_negative"
            ),
        ]

    def __str__(self):
        return self.sku

    @property
    def effective_price(self):
        """Its own price, else the product's."""
        return self.price if self.price is not None else self.product.price


class Warehouse(models.Model):
    """A place stock is kept and shipped from. Allocation tries lower `priority` first."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code"))
    address = models.TextField(_("address"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveSmallIntegerField(_("priority"), default=0, help_text=_("lower is tried first"))
    # ISO codes; empty means every country.
    ships_to = models.JSONField(_("ships to"), default=list, blank=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["priority", "id"]

    def __str__(self):
        return self.name

    def ships_to_country(self, country: str) -> bool:
        return not self.ships_to or not country or country.upper() in self.ships_to


class Stock(models.Model):
    """Units of a variant in a warehouse; the database refuses impossible counts.

    `on_hand`: units on the shelf not yet sold; `reserved`: the part of them
    held for unpaid orders (available = on_hand - reserved); `committed`:
    units sold (paid) that have not shipped yet, no longer on hand but still
    in the building. Physical units in the warehouse = on_hand + committed.
    """

    variant = models.ForeignKey(
        ProductVariant, verbose_name=_("variant"), on_delete=models.CASCADE, related_name="stocks"
    )
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="stocks")
    # The variant's product, kept beside it: "is this product in stock" reads one table.
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="stocks")
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    committed = models.IntegerField(
        _("sold, awaiting shipment"), default=0, help_text=_("Paid units still in the warehouse until they ship.")
    )

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        ordering = ["variant_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "warehouse"], name="catalog_stock_one_per_variant_warehouse"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="catalog_stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="catalog_stock_reserved_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="catalog_stock_reserved_within_on_hand"
            ),
            models.CheckConstraint(condition=Q(committed__gte=0), name="catalog_stock_committed_not_negative"),
        ]

    def __str__(self):
        return (
            f"{self.variant_id}@{self.warehouse_id}: {self.on_hand} on hand, {self.reserved} reserved, "
            f"{self.committed} committed"
        )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(models.Model):
    """Append-only record of one change to the stock counters of a variant in a warehouse."""

    class Kind(models.TextChoices):
        RESTOCK = "restock", _("Restock")
        ADJUSTMENT = "adjustment", _("Adjustment")
        RESERVATION = "reservation", _("Reservation")
        RELEASE = "release", _("Release")
        SALE = "sale", _("Sale")
        TRANSFER = "transfer", _("Transfer")
        SHIPMENT = "shipment", _("Shipment")
        SALE_CANCELLED = "sale_cancelled", _("Sale cancelled before shipping")

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="stock_movements"
    )
    variant = models.ForeignKey(
        ProductVariant, verbose_name=_("variant"), on_delete=models.PROTECT, related_name="stock_movements"
    )
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    committed_delta = models.IntegerField(_("committed change"), default=0)
    reference = models.CharField(_("reference"), max_length=64, blank=True, db_index=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-id"]
        constraints = [
            # A parcel moves its units out once: one shipment movement per (reference, variant, warehouse).
            models.UniqueConstraint(
                fields=["reference", "variant", "warehouse"], condition=Q(kind="shipment"),
                name="catalog_stock_movement_shipment_once",
            ),
        ]

    def __str__(self):
        return (
            f"{self.kind} {self.product_id} "
            f"({self.on_hand_delta:+d}/{self.reserved_delta:+d}/{self.committed_delta:+d})"
        )


class StockReservation(models.Model):
    """Units held for one order (reference) until it is paid, cancelled or expires."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RELEASED = "released", _("Released")
        SOLD = "sold", _("Sold")

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="reservations"
    )
    variant = models.ForeignKey(
        ProductVariant, verbose_name=_("variant"), on_delete=models.PROTECT, related_name="reservations"
    )
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    reference = models.CharField(_("reference"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("stock reservation")
        verbose_name_plural = _("stock reservations")
        indexes = [
            models.Index(fields=["reference", "status"], name="catalog_resv_ref_status"),
            models.Index(fields=["status", "expires_at"], name="catalog_resv_status_exp"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="catalog_reservation_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.reference}: {self.quantity} x {self.product_id} ({self.status})"


class ProductPurchase(models.Model):
    """A product bought by a user in an order (written by orders through a catalog service)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="product_purchases"
    )
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="purchases")
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    reference = models.CharField(_("reference"), max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("product purchase")
        verbose_name_plural = _("product purchases")
        constraints = [
            models.UniqueConstraint(fields=["reference", "product"], name="catalog_purchase_unique_ref_product"),
        ]
        indexes = [models.Index(fields=["user", "product"], name="catalog_purchase_user_prod")]

    def __str__(self):
        return f"{self.reference}: {self.product_id}"


class Review(models.Model):
    """One rating (1-5) and text per user per product, by a buyer."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="reviews"
    )
    rating = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    title = models.CharField(_("title"), max_length=120, blank=True)
    body = models.TextField(_("review"), blank=True)
    # Cached count of the ReviewHelpfulVote rows; changes only with them, in the same transaction.
    helpful_count = models.PositiveIntegerField(_("helpful votes"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "user"], name="catalog_review_one_per_user"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="catalog_review_rating_1_5"),
        ]
        indexes = [
            models.Index(fields=["product", "-helpful_count", "-created_at"], name="catalog_review_helpful_idx"),
        ]

    def __str__(self):
        return f"{self.product_id} by {self.user_id}: {self.rating}"


class ReviewHelpfulVote(models.Model):
    """A signed-in shopper found a review helpful: one vote per shopper and review, never on their own."""

    review = models.ForeignKey(
        Review, verbose_name=_("review"), on_delete=models.CASCADE, related_name="helpful_votes"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="review_votes"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("helpful vote")
        verbose_name_plural = _("helpful votes")
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="catalog_review_vote_once"),
        ]

    def __str__(self):
        return f"{self.review_id} helpful to {self.user_id}"


class BoughtTogether(models.Model):
    """How many orders contained both products (recomputed by a beat task)."""

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(
        Product, verbose_name=_("bought with"), on_delete=models.CASCADE, related_name="+"
    )
    count = models.PositiveIntegerField(_("orders together"))

    class Meta:
        verbose_name = _("bought together")
        verbose_name_plural = _("bought together")
        constraints = [
            models.UniqueConstraint(fields=["product", "other"], name="catalog_bought_together_unique"),
        ]
        indexes = [models.Index(fields=["product", "-count"], name="catalog_bt_product_count")]

    def __str__(self):
        return f"{self.product_id} + {self.other_id}: {self.count}"


class FacetCount(models.Model):
    """Active products per (category, brand, price slot, availability): the facet counts of browsing.

    Kept exact by catalog.services: product writes recompute their (category,
    brand) groups in the same transaction; a stock change that flips a
    product between in and out of stock recomputes its group right after
    commit; an exchange-rate change rebuilds all (the price slots are the
    base-currency prices where a price band of some currency starts).
    A slot is [price_min, price_max); price_max is NULL for the last one.
    """

    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="+")
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    price_min = models.DecimalField(_("lowest price"), max_digits=12, decimal_places=2)
    price_max = models.DecimalField(_("price limit"), max_digits=12, decimal_places=2, null=True, blank=True)
    in_stock = models.BooleanField(_("in stock"))
    count = models.PositiveIntegerField(_("products"))

    class Meta:
        verbose_name = _("facet count")
        verbose_name_plural = _("facet counts")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "brand", "price_min", "in_stock"], name="catalog_facetcount_unique_slot"
            ),
        ]

    def __str__(self):
        return f"{self.category_id}/{self.brand}/{self.price_min}: {self.count}"


class AttributeCount(models.Model):
    """Active products per (category, brand, availability, attribute name and value): the attribute facets of browsing.

    Kept with FacetCount, group by group (catalog.services.facets.facet_counts_refresh).
    """

    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="+")
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    in_stock = models.BooleanField(_("in stock"))
    name = models.CharField(_("attribute"), max_length=30)
    value = models.CharField(_("value"), max_length=100)
    count = models.PositiveIntegerField(_("products"))

    class Meta:
        verbose_name = _("attribute count")
        verbose_name_plural = _("attribute counts")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "brand", "in_stock", "name", "value"], name="catalog_attributecount_unique"
            ),
        ]

    def __str__(self):
        return f"{self.category_id}/{self.brand}/{self.name}={self.value}: {self.count}"
