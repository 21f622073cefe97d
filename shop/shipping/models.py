"""Carriers, shipping zones and methods, their prices per currency and weight bands, carrier events.

A method's price in a currency is either flat (`ShippingMethodPrice.price`) or the
price of the lightest `WeightBand` whose `max_weight_grams` holds the parcel; a
method without a price (or band) in a currency is not offered in it. Amounts are
Decimal in the row's currency, never float.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from accounts.countries import COUNTRY_CODES
from shop.core.money import minor_unit_quantum

AMOUNT_DIGITS = 12
AMOUNT_PLACES = 2
TRACKING_PLACEHOLDER = "{tracking_number}"


def _validate_amount(value: Decimal | None, currency: str, field: str, errors: dict) -> None:
    if value is None or not currency:
        return
    if value != value.quantize(minor_unit_quantum(currency)):
        errors[field] = _("Use at most the currency's minor units (e.g. 4.99).")


class Carrier(models.Model):
    """A parcel carrier. Its webhook secret is not stored here: settings.CARRIER_WEBHOOK_SECRETS[code]."""

    code = models.SlugField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_("Lower-case, in the webhook URL: /shipping/webhooks/<code>/"),
    )
    name = models.CharField(_("name"), max_length=100)
    tracking_url_template = models.URLField(
        _("tracking URL template"),
        max_length=500,
        help_text=_("A link with {tracking_number} where the tracking number goes."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tracking_url_template__contains=TRACKING_PLACEHOLDER),
                name="shipping_carrier_tracking_placeholder",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        template = self.tracking_url_template or ""
        if TRACKING_PLACEHOLDER not in template:
            raise ValidationError(
                {"tracking_url_template": _("Put {tracking_number} where the number goes.")}
            )
        # Only the placeholder may use braces, so filling it in is one exact replacement.
        rest = template.replace(TRACKING_PLACEHOLDER, "")
        if "{" in rest or "}" in rest:
            raise ValidationError(
                {"tracking_url_template": _("Only {tracking_number} may appear in braces.")}
            )
        if not template.startswith("https://"):
            raise ValidationError({"tracking_url_template": _("Tracking links must use https://.")})


class ShippingZone(models.Model):
    """A named set of countries (ISO 3166-1 alpha-2 codes the shop ships to: accounts.countries)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    countries = models.JSONField(_("countries"), default=list, help_text=_("ISO 3166-1 alpha-2 codes"))

    class Meta:
        verbose_name = _("shipping zone")
        verbose_name_plural = _("shipping zones")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        codes = self.countries
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise ValidationError({"countries": _("Choose at least one country.")})
        codes = [code.strip().upper() for code in codes]
        unknown = sorted(set(codes) - COUNTRY_CODES)
        if unknown:
            raise ValidationError(
                {"countries": _("Unknown country codes: %(codes)s") % {"codes": ", ".join(unknown)}}
            )
        self.countries = sorted(set(codes))


class ShippingMethod(models.Model):
    class Kind(models.TextChoices):
        FLAT = "flat", _("Flat price")
        BY_WEIGHT = "by_weight", _("By weight")

    name = models.CharField(_("name"), max_length=100)
    carrier = models.ForeignKey(
        Carrier, verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="methods"
    )
    zones = models.ManyToManyField(ShippingZone, verbose_name=_("zones"), related_name="methods")
    kind = models.CharField(_("pricing"), max_length=16, choices=Kind.choices, default=Kind.FLAT)
    min_delivery_days = models.PositiveSmallIntegerField(_("delivery from (working days)"))
    max_delivery_days = models.PositiveSmallIntegerField(_("delivery to (working days)"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("shipping method")
        verbose_name_plural = _("shipping methods")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_delivery_days__lte=models.F("max_delivery_days")),
                name="shipping_method_delivery_days_ordered",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        low, high = self.min_delivery_days, self.max_delivery_days
        if low is not None and high is not None and low > high:
            raise ValidationError({"max_delivery_days": _("Must not be less than the first delivery day.")})


class ShippingMethodPrice(models.Model):
    """A method offered in one currency: its flat price (flat methods only) and an optional free-shipping threshold."""

    method = models.ForeignKey(ShippingMethod, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(_("currency"), max_length=3, choices=settings.CURRENCY_CHOICES)
    price = models.DecimalField(
        _("flat price"),
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        null=True,
        blank=True,
        help_text=_("Flat methods only; by-weight methods take the price of their weight bands."),
    )
    free_above = models.DecimalField(
        _("free at or above"),
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        null=True,
        blank=True,
        help_text=_("Order subtotal from which this method costs nothing; empty: never free."),
    )

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["method", "currency"], name="shipping_price_one_per_currency"),
            models.CheckConstraint(
                condition=models.Q(price__isnull=True) | models.Q(price__gte=0),
                name="shipping_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(free_above__isnull=True) | models.Q(free_above__gt=0),
                name="shipping_free_above_positive",
            ),
        ]

    def __str__(self):
        return f"{self.method} {self.currency}"

    @property
    def price_money(self) -> Money | None:
        return None if self.price is None else Money(self.price, self.currency)

    def clean(self):
        errors: dict = {}
        if self.price is not None and self.price < 0:
            errors["price"] = _("A price cannot be negative.")
        if self.free_above is not None and self.free_above <= 0:
            errors["free_above"] = _("Leave it empty, or enter an amount above zero.")
        _validate_amount(self.price, self.currency, "price", errors)
        _validate_amount(self.free_above, self.currency, "free_above", errors)
        if errors:
            raise ValidationError(errors)


class WeightBand(models.Model):
    """Parcels up to `max_weight_grams` (and over the next lighter band of the method and currency) cost `price`."""

    method = models.ForeignKey(ShippingMethod, on_delete=models.CASCADE, related_name="weight_bands")
    currency = models.CharField(_("currency"), max_length=3, choices=settings.CURRENCY_CHOICES)
    max_weight_grams = models.PositiveIntegerField(_("up to (grams)"))
    price = models.DecimalField(_("price"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)

    class Meta:
        verbose_name = _("weight band")
        verbose_name_plural = _("weight bands")
        ordering = ["currency", "max_weight_grams"]
        constraints = [
            # Bands are upper bounds, so one row per bound leaves no overlap and no ambiguity.
            models.UniqueConstraint(
                fields=["method", "currency", "max_weight_grams"], name="shipping_band_one_per_bound"
            ),
            models.CheckConstraint(
                condition=models.Q(max_weight_grams__gt=0), name="shipping_band_weight_positive"
            ),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="shipping_band_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.method} {self.currency} ≤ {self.max_weight_grams} g"

    def clean(self):
        errors: dict = {}
        if self.max_weight_grams is not None and self.max_weight_grams <= 0:
            errors["max_weight_grams"] = _("Enter a weight above zero.")
        if self.price is not None and self.price < 0:
            errors["price"] = _("A price cannot be negative.")
        _validate_amount(self.price, self.currency, "price", errors)
        if errors:
            raise ValidationError(errors)


class CarrierEvent(models.Model):
    """A verified carrier webhook event, recorded once per (carrier, event id); never updated."""

    class Status(models.TextChoices):
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")

    carrier = models.ForeignKey(
        Carrier, verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="events"
    )
    event_id = models.CharField(_("event id"), max_length=100)
    tracking_number = models.CharField(_("tracking number"), max_length=100, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("carrier event")
        verbose_name_plural = _("carrier events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "event_id"], name="shipping_event_once_per_carrier"),
        ]

    def __str__(self):
        return f"{self.carrier_id}:{self.event_id} {self.tracking_number} {self.status}"
