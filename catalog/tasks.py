"""Celery tasks of the catalog: each calls one service."""

from celery import shared_task

from catalog.services.facets import facet_counts_rebuild
from catalog.services.recommendations import bought_together_compute


@shared_task(name="catalog.tasks.compute_bought_together")
def compute_bought_together() -> int:
    """Recompute the "bought together" table (beat: every six hours); safe to run twice."""
    return bought_together_compute()


@shared_task(name="catalog.tasks.recount_facets")
def recount_facets() -> int:
    """Recount the browsing facet tables from scratch (a safety net for a recount lost with its process)."""
    return facet_counts_rebuild()
