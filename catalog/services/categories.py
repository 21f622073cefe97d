"""Category writes: the tree, with the products' search text and the cached tree kept current."""

from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify

from catalog.cache import catalog_cache_invalidate
from catalog.models import Category, Product
from catalog.services.search import product_search_vector_refresh


def category_create(*, name: str, parent: Category | None = None, slug: str = "", description: str = "") -> Category:
    """Add a category under `parent` (or as a root)."""
    with transaction.atomic():
        fields = {"name": name, "slug": slug or slugify(name), "description": description}
        category = Category.objects.add_child(parent, fields) if parent is not None else Category.objects.add_root(fields)
        catalog_cache_invalidate()
        return category


def category_update(*, category: Category, name: str, description: str | None = None) -> Category:
    """Rename a category; its products' search text follows."""
    with transaction.atomic():
        category.name = name
        if description is not None:
            category.description = description
        category.save(update_fields=["name", "description"])
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
        return category
