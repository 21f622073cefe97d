"""Catalog reads, one module per responsibility; callers import from the module that defines the name."""
