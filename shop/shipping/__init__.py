"""Shipping: carriers, zones, methods and their prices; quotes for checkout; signed carrier webhooks."""
