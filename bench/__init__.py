"""Benchmark of the shop under gunicorn + PostgreSQL + Redis: `make bench` (python -m bench)."""
