"""Pricing: tax rates, catalogue promotions, vouchers and the one pipeline that prices a cart or an order."""
