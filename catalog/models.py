"""Catalog state: categories, products, images, stock, reviews, purchases, recommendations.

Stock counters change only through catalog.services (guarded UPDATEs); every
change leaves an append-only StockMovement so that
on_hand == sum(movement.on_hand_delta) and reserved == sum(open reservations).
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
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
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    price = MoneyField(
        _("price"),
        max_digits=12,
        decimal_places=2,
        default_currency=settings.DEFAULT_CURRENCY,
        currency_choices=[(settings.DEFAULT_CURRENCY, settings.DEFAULT_CURRENCY)],
    )
    is_active = models.BooleanField(_("active"), default=True)
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
            models.Index(fields=["is_active", "-created_at", "-id"], name="catalog_prod_active_new"),
            models.Index(
                fields=["is_active", "-rating_avg", "-rating_count", "-id"], name="catalog_prod_active_rating"
            ),
            models.Index(fields=["is_active", "name", "id"], name="catalog_prod_active_name"),
            models.Index(fields=["category", "is_active"], name="catalog_prod_cat_active"),
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
    alt = models.CharField(_("alternative text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["position", "id"]

    def __str__(self):
        return self.alt or self.image.name


class Stock(models.Model):
    """Units on hand and reserved for a product; the database refuses impossible counts."""

    product = models.OneToOneField(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, primary_key=True, related_name="stock"
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="catalog_stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="catalog_stock_reserved_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="catalog_stock_reserved_within_on_hand"
            ),
        ]

    def __str__(self):
        return f"{self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(models.Model):
    """Append-only record of one change to a product's stock counters."""

    class Kind(models.TextChoices):
        RESTOCK = "restock", _("Restock")
        ADJUSTMENT = "adjustment", _("Adjustment")
        RESERVATION = "reservation", _("Reservation")
        RELEASE = "release", _("Release")
        SALE = "sale", _("Sale")

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="stock_movements"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
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

    def __str__(self):
        return f"{self.kind} {self.product_id} ({self.on_hand_delta:+d}/{self.reserved_delta:+d})"


class StockReservation(models.Model):
    """Units held for one order (reference) until it is paid, cancelled or expires."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RELEASED = "released", _("Released")
        SOLD = "sold", _("Sold")

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="reservations"
    )
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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "user"], name="catalog_review_one_per_user"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="catalog_review_rating_1_5"),
        ]

    def __str__(self):
        return f"{self.product_id} by {self.user_id}: {self.rating}"


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
