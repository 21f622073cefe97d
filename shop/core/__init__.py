"""The shared base: errors, money, API plumbing, schema, throttling, cache, admin helpers.

Every app may import from here; nothing here imports an app (tests/test_architecture.py).
"""
