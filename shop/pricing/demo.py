"""Demo data: tax rates for Germany, France, Great Britain and the United States. Safe to run twice."""

from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from catalog.models import Category, Product
from catalog.services.categories import category_create
from catalog.services.products import product_create
from shop.pricing.models import DiscountKind, ProductTaxClass, TaxClass, TaxRate, Voucher, VoucherAmount

US_NOTE = "No sales tax collected: the demo shop has no nexus in any US state."
# (country, region, tax class, percent, note)
DEMO_RATES = [
    ("DE", "", TaxClass.STANDARD, "19", ""),
    ("DE", "", TaxClass.REDUCED, "7", "Books, food"),
    ("DE", "", TaxClass.ZERO, "0", ""),
    ("FR", "", TaxClass.STANDARD, "20", ""),
    ("FR", "", TaxClass.REDUCED, "5.5", "Books, food"),
    ("FR", "", TaxClass.ZERO, "0", ""),
    ("GB", "", TaxClass.STANDARD, "20", ""),
    ("GB", "", TaxClass.REDUCED, "0", "Books and children's clothes are zero-rated"),
    ("GB", "", TaxClass.ZERO, "0", ""),
] + [("US", "", tax_class, "0", US_NOTE) for tax_class in TaxClass.values]


DEMO_VOUCHER = "WELCOME10"
DEMO_GIFT_CARD_SKU = "GIFT-CARD-25"


def load(*, stdout) -> None:
    """Create the demo rates that are missing and the WELCOME10 voucher; what staff changed is left as it is."""
    _voucher_load(stdout=stdout)
    _gift_card_product_load(stdout=stdout)
    created = 0
    for country, region, tax_class, rate, note in DEMO_RATES:
        _row, was_created = TaxRate.objects.get_or_create(
            country=country,
            region=region,
            tax_class=tax_class,
            defaults={"rate": Decimal(rate), "note": note},
        )
        created += was_created
    stdout.write(f"shop.pricing.demo: {created} tax rates created ({len(DEMO_RATES)} in the demo set).\n")


def _voucher_load(*, stdout) -> None:
    """WELCOME10: 10 % off, from 20.00 in each shop currency, once per customer."""
    voucher, created = Voucher.objects.get_or_create(
        code=DEMO_VOUCHER,
        defaults={"kind": DiscountKind.PERCENTAGE, "percentage": Decimal("10"), "per_customer_limit": 1,
                  "starts_at": timezone.now()},
    )
    if created:
        for currency in settings.CURRENCIES:
            VoucherAmount.objects.create(voucher=voucher, currency=currency, minimum_spend=Decimal("20.00"))
    stdout.write(f"shop.pricing.demo: voucher {DEMO_VOUCHER} {'created' if created else 'already there'}.\n")


def _gift_card_product_load(*, stdout) -> None:
    """A 25.00 gift card (tax class zero: a multi-purpose voucher is taxed when spent, not when sold)."""
    product = Product.objects.filter(sku=DEMO_GIFT_CARD_SKU).first()
    if product is None:
        category = Category.objects.filter(slug="gift-cards").first() or category_create(
            name="Gift cards", slug="gift-cards"
        )
        product = product_create(
            sku=DEMO_GIFT_CARD_SKU, name="Gift card 25", category=category, price=Decimal("25.00"),
            description="A gift card worth 25.00, its code e-mailed once the order is paid.",
            is_gift_card=True, on_hand=100000,
        )
    ProductTaxClass.objects.get_or_create(product=product, defaults={"tax_class": TaxClass.ZERO})
    stdout.write(f"shop.pricing.demo: gift-card product {DEMO_GIFT_CARD_SKU} ready.\n")
