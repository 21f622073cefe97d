"""Category reads: the cached tree, lookups by slug, subtrees."""

import hashlib

from django.core.cache import cache
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import get_language

from catalog.cache import TTL, catalog_cache_key
from catalog.models import Category


def category_tree() -> list[dict]:
    """The whole category tree as nested dicts in the active language, cached until the catalog changes."""
    key = catalog_cache_key("tree", get_language())
    tree = cache.get(key)
    if tree is not None:
        return tree
    roots: list[dict] = []
    by_path: dict[str, dict] = {}
    for cat in Category.objects.order_by("path"):
        node = {"id": cat.pk, "name": cat.name, "slug": cat.slug, "depth": cat.depth, "children": []}
        by_path[cat.path] = node
        parent = by_path.get(cat.path[: -Category.steplen])
        (parent["children"] if parent else roots).append(node)
    cache.set(key, roots, TTL)
    return roots


def category_get_by_slug(slug: str) -> Category | None:
    """The category with this slug, or None; cached until the catalog changes (every listing asks)."""
    key = catalog_cache_key("category", hashlib.sha256(str(slug).encode()).hexdigest())
    found = cache.get(key)
    if found is None:
        category = Category.objects.filter(slug=slug).first()
        found = {"category": category}
        cache.set(key, found, TTL)
    return found["category"]


def category_descendant_ids(category: Category) -> QuerySet:
    """Ids of `category` and every category below it (a subquery)."""
    return Category.objects.filter(path__startswith=category.path).values("id")


def category_breadcrumbs(category: Category) -> list[dict]:
    """The path from the top category down to `category`, as {name, url} for breadcrumbs.

    Read from the cached tree, so a listing page asks the database nothing more.
    """

    def walk(nodes: list[dict], trail: list[dict]) -> list[dict] | None:
        for node in nodes:
            here = [*trail, node]
            if node["id"] == category.pk:
                return here
            if found := walk(node["children"], here):
                return found
        return None

    path = walk(category_tree(), []) or [{"name": category.name, "slug": category.slug}]
    return [{"name": n["name"], "url": reverse("catalog:category", kwargs={"slug": n["slug"]})} for n in path]
