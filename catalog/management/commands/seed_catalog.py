"""Create many products fast (bulk inserts) for scale tests: `seed_catalog --products 100000`."""

import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils.text import slugify

from catalog.demo import leaf_categories, product_fields
from catalog.models import Product, ProductVariant, Stock, StockMovement
from catalog.services.facets import facet_counts_rebuild
from catalog.services.price_from import product_price_from_refresh
from catalog.services.products import product_set_active
from catalog.services.search import product_search_vector_refresh
from catalog.services.warehouses import warehouse_default
from catalog.translation import in_default_language

BATCH = 5000


class Command(BaseCommand):
    help = "Bulk-create N products (with stock and stock movements) across the demo category tree."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, required=True, help="how many products to create")
        parser.add_argument("--seed", type=int, default=1, help="random seed (names, prices, stock)")

    def handle(self, *args, products: int, seed: int, **options):
        if products <= 0 or products > 5_000_000:
            raise CommandError("--products must be between 1 and 5,000,000")
        started = time.monotonic()
        rng = random.Random(seed)
        leaves = leaf_categories()
        run = f"{int(time.time()):x}"
        created = 0
        warehouse = warehouse_default()
        while created < products:
            size = min(BATCH, products - created)
            batch = []
            stock_levels = []
            for i in range(created, created + size):
                leaf = leaves[rng.randrange(len(leaves))]
                fields = product_fields(rng, leaf, i + 1)
                sku = f"SEED-{run}-{i + 1:07d}"
                # English in the English columns whatever language is active; the German beside it.
                text = {"name_en": fields["name"], "description_en": fields["description"], **fields.pop("translations")}
                batch.append(
                    Product(sku=sku, slug=slugify(f"{fields['name']}-{sku}"), category=leaf, **fields, **text)
                )
                stock_levels.append(rng.choice([0, 1, 5, 20, 50, 200]))
            with transaction.atomic():
                with in_default_language():  # the original name column in English
                    made = Product.objects.bulk_create(batch, batch_size=1000)
                variants = ProductVariant.objects.bulk_create(
                    [ProductVariant(product_id=p.pk, sku=p.sku, is_default=True) for p in made], batch_size=2000
                )
                Stock.objects.bulk_create(
                    [
                        Stock(product_id=p.pk, variant_id=v.pk, warehouse_id=warehouse.pk, on_hand=q)
                        for p, v, q in zip(made, variants, stock_levels, strict=True)
                    ],
                    batch_size=2000,
                )
                StockMovement.objects.bulk_create(
                    [
                        StockMovement(
                            product_id=p.pk, variant_id=v.pk, warehouse_id=warehouse.pk,
                            kind=StockMovement.Kind.RESTOCK, on_hand_delta=q, reason="seed_catalog",
                        )
                        for p, v, q in zip(made, variants, stock_levels, strict=True)
                        if q
                    ],
                    batch_size=2000,
                )
                product_search_vector_refresh(product_ids=[p.pk for p in made])
                product_price_from_refresh(product_ids=[p.pk for p in made])  # bulk_create sends no signals
            created += size
            self.stdout.write(f"  {created}/{products}")
        if connection.vendor == "postgresql":
            # Flush the GIN pending lists and refresh planner statistics: right after
            # a bulk load, every search would otherwise scan the unsorted pending list.
            with connection.cursor() as cursor:
                if connection.in_atomic_block:  # VACUUM cannot run in a transaction
                    cursor.execute("SELECT gin_clean_pending_list('catalog_product_search_gin'::regclass)")
                    cursor.execute("ANALYZE catalog_product")
                else:
                    cursor.execute("VACUUM ANALYZE catalog_product")
                # Every table a listing joins: without statistics on the variants (new with issue 19)
                # PostgreSQL planned the stock and price joins for empty tables.
                for table in ("catalog_productvariant", "catalog_stock", "catalog_warehouse", "catalog_stockmovement"):
                    cursor.execute(f"ANALYZE {table}")
        facet_counts_rebuild()
        product_set_active(product_ids=[], is_active=True)  # bump the catalog cache version
        self.stdout.write(
            self.style.SUCCESS(f"Created {created} products in {time.monotonic() - started:.1f}s.")
        )
