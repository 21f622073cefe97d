"""Category writes: the tree, with the products' search text and the cached tree kept current."""

from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify

from catalog.cache import catalog_cache_invalidate
from catalog.models import Category, Product
from catalog.services.search import product_search_vector_refresh
from catalog.translation import in_default_language, localized_field, localized_fields
from shop.core.rules_cache import pricing_rules_invalidate


def category_create(
    *,
    name: str,
    parent: Category | None = None,
    slug: str = "",
    description: str = "",
    translations: dict[str, str] | None = None,
) -> Category:
    """Add a category under `parent` (or as a root); name and description in English, `translations` the others."""
    with transaction.atomic():
        fields = {
            "slug": slug or slugify(name),
            localized_field("name", "en"): name,
            localized_field("description", "en"): description,
            **(translations or {}),
        }
        with in_default_language():
            category = (
                Category.objects.add_child(parent, fields) if parent is not None else Category.objects.add_root(fields)
            )
        catalog_cache_invalidate()
        return category


def category_update(
    *, category: Category, name: str, description: str | None = None, translations: dict[str, str] | None = None
) -> Category:
    """Rename a category (English `name`, other languages in `translations`); its products' search text follows."""
    with transaction.atomic():
        setattr(category, localized_field("name", "en"), name)
        if description is not None:
            setattr(category, localized_field("description", "en"), description)
        for column, text in (translations or {}).items():
            setattr(category, column, text)
        columns = ["name", "description", *localized_fields("name"), *localized_fields("description")]
        with in_default_language():
            category.save(update_fields=columns)
        product_search_vector_refresh(
            product_ids=list(Product.objects.filter(category=category).values_list("id", flat=True))
        )
        catalog_cache_invalidate()
        return category


def category_delete(*, category_ids: Iterable[int]) -> int:
    """Delete categories with their subtrees (a category holding products cannot go); returns how many were asked."""
    ids = list(category_ids)
    with transaction.atomic():
        Category.objects.filter(pk__in=ids).delete()  # treebeard: descendants too, parents' numchild kept
        catalog_cache_invalidate()
        return len(ids)


def category_move(*, category: Category, target: Category, pos: str) -> Category:
    """Move a category (and its subtree) relative to `target`; the cached tree follows."""
    with transaction.atomic():
        Category.objects.move(category, target, pos=pos)
        category.refresh_from_db()
        catalog_cache_invalidate()
        # treebeard rewrites the subtree's paths in SQL (no signal): promotions widen categories by path.
        pricing_rules_invalidate()
        return category
