"""Tax rates, catalogue promotions and vouchers: the rules the pricing pipeline applies.

Percentages (tax rates, percentage promotions and vouchers) are stored as
percent (19.000 means 19 %). Fixed amounts are kept per currency in child
rows (`PromotionAmount`, `VoucherAmount`): a fixed promotion or voucher
without a row for the order's currency does not apply in that currency.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from catalog.models import Category, Product

PERCENT_DIGITS = 6
PERCENT_PLACES = 3
AMOUNT_DIGITS = 12
AMOUNT_PLACES = 2
_percent_validators = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]


class TaxClass(models.TextChoices):
    STANDARD = "standard", _("Standard rate")
    REDUCED = "reduced", _("Reduced rate")
    ZERO = "zero", _("Zero rate")


class TaxRate(models.Model):
    """The rate of one tax class in a country, or in one region (state) of it.

    A region's row wins over the country-wide row (region empty).
    """

    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2, e.g. DE"))
    region = models.CharField(
        _("region"), max_length=10, blank=True, help_text=_("State or region code, e.g. CA")
    )
    tax_class = models.CharField(_("tax class"), max_length=16, choices=TaxClass.choices)
    rate = models.DecimalField(
        _("rate (%)"),
        max_digits=PERCENT_DIGITS,
        decimal_places=PERCENT_PLACES,
        validators=_percent_validators,
    )
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["country", "region", "tax_class"]
        constraints = [
            models.UniqueConstraint(fields=["country", "region", "tax_class"], name="pricing_taxrate_unique"),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=100), name="pricing_taxrate_percent"
            ),
        ]

    def __str__(self):
        place = f"{self.country}-{self.region}" if self.region else self.country
        return f"{place} {self.get_tax_class_display()} {self.rate.normalize()} %"


class ProductTaxClass(models.Model):
    """A product's tax class; a product without a row is taxed at the standard rate."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="tax_class_row")
    tax_class = models.CharField(
        _("tax class"), max_length=16, choices=TaxClass.choices, default=TaxClass.STANDARD
    )

    class Meta:
        verbose_name = _("product tax class")
        verbose_name_plural = _("product tax classes")

    def __str__(self):
        return f"{self.product_id}: {self.tax_class}"


class DiscountKind(models.TextChoices):
    PERCENTAGE = "percentage", _("Percentage")
    FIXED = "fixed", _("Fixed amount")
    FREE_SHIPPING = "free_shipping", _("Free shipping")


class Promotion(models.Model):
    """A catalogue promotion: a percentage or a fixed amount off each unit of chosen products or categories."""

    class Kind(models.TextChoices):
        PERCENTAGE = DiscountKind.PERCENTAGE.value, DiscountKind.PERCENTAGE.label
        FIXED = DiscountKind.FIXED.value, DiscountKind.FIXED.label

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    percentage = models.DecimalField(
        _("percentage"),
        max_digits=PERCENT_DIGITS,
        decimal_places=PERCENT_PLACES,
        null=True,
        blank=True,
        validators=_percent_validators,
    )
    products = models.ManyToManyField(
        Product, blank=True, related_name="promotions", verbose_name=_("products")
    )
    categories = models.ManyToManyField(
        Category,
        blank=True,
        related_name="promotions",
        verbose_name=_("categories (and their subcategories)"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="percentage") | Q(percentage__gt=0, percentage__lte=100),
                name="pricing_promotion_percentage_set",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="pricing_promotion_dates",
            ),
        ]

    def __str__(self):
        return self.name


class PromotionAmount(models.Model):
    """The amount a fixed promotion takes off each unit, in one currency."""

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="amounts")
    currency = models.CharField(_("currency"), max_length=3, choices=settings.CURRENCY_CHOICES)
    amount = models.DecimalField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)

    class Meta:
        verbose_name = _("promotion amount")
        verbose_name_plural = _("promotion amounts")
        constraints = [
            models.UniqueConstraint(
                fields=["promotion", "currency"], name="pricing_promotionamount_one_per_currency"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="pricing_promotionamount_positive"),
        ]

    def __str__(self):
        return f"{self.amount} {self.currency}"


class Voucher(models.Model):
    """A code a shopper enters: a percentage, a fixed amount or free shipping, with limits.

    `uses` counts the redemptions not released; it is changed only by
    shop.pricing.services.vouchers with guarded UPDATEs, and the database
    refuses a count above `usage_limit`.
    """

    Kind = DiscountKind

    code = models.CharField(_("code"), max_length=40, help_text=_("Compared case-insensitively."))
    kind = models.CharField(_("kind"), max_length=16, choices=DiscountKind.choices)
    percentage = models.DecimalField(
        _("percentage"),
        max_digits=PERCENT_DIGITS,
        decimal_places=PERCENT_PLACES,
        null=True,
        blank=True,
        validators=_percent_validators,
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    usage_limit = models.PositiveIntegerField(_("total uses allowed"), null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("uses per customer"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-starts_at", "id"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="pricing_voucher_code_ci_unique"),
            models.CheckConstraint(
                condition=Q(usage_limit__isnull=True) | Q(uses__lte=F("usage_limit")),
                name="pricing_voucher_uses_within_limit",
            ),
            models.CheckConstraint(condition=Q(uses__gte=0), name="pricing_voucher_uses_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="percentage") | Q(percentage__gt=0, percentage__lte=100),
                name="pricing_voucher_percentage_set",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="pricing_voucher_dates",
            ),
        ]

    def __str__(self):
        return self.code


class VoucherAmount(models.Model):
    """A voucher's terms in one currency: the amount off (fixed vouchers) and the minimum order value."""

    voucher = models.ForeignKey(Voucher, on_delete=models.CASCADE, related_name="amounts")
    currency = models.CharField(_("currency"), max_length=3, choices=settings.CURRENCY_CHOICES)
    amount = models.DecimalField(
        _("amount off"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    minimum_spend = models.DecimalField(
        _("minimum order value"),
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("voucher amount")
        verbose_name_plural = _("voucher amounts")
        constraints = [
            models.UniqueConstraint(
                fields=["voucher", "currency"], name="pricing_voucheramount_one_per_currency"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="pricing_voucheramount_positive"
            ),
            models.CheckConstraint(
                condition=Q(minimum_spend__isnull=True) | Q(minimum_spend__gte=0),
                name="pricing_voucheramount_minimum_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.voucher_id} {self.currency}"


class VoucherRedemption(models.Model):
    """One use of a voucher by one order; released (cancel, full refund) at most once."""

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="voucher_redemptions",
    )
    email = models.EmailField(_("e-mail"), blank=True)
    reference = models.CharField(_("order reference"), max_length=120)
    created_at = models.DateTimeField(_("redeemed at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("voucher redemption")
        verbose_name_plural = _("voucher redemptions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["voucher", "reference"],
                condition=Q(released_at__isnull=True),
                name="pricing_voucherredemption_one_active_per_order",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(email=""), name="pricing_voucherredemption_has_customer"
            ),
        ]
        indexes = [models.Index(fields=["reference"], name="pricing_vr_reference")]

    def __str__(self):
        return f"{self.voucher_id} · {self.reference}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None
