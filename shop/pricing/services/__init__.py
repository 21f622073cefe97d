"""Writes of the pricing app, one module per responsibility (vouchers.py: redemption and release)."""
