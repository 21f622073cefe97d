"""Timestamped HMAC-SHA256 signatures of webhook bodies, shared by every app that receives webhooks.

Header: `t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (several `v1`
values are allowed while a secret is rotated). A timestamp further than the
tolerance from now is refused, so a captured request cannot be replayed later;
within the tolerance, the receiver deduplicates by event id.
"""

import hashlib
import hmac
import time


def hmac_signature_header(*, payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header a sender puts on `payload` (used by tests and tools)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def hmac_signature_valid(
    *, payload: bytes, header: str, secret: str, tolerance_seconds: int, now: int | None = None
) -> bool:
    """Whether `header` signs `payload` with `secret` at a time within the tolerance of now."""
    if not secret:
        return False
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        return False
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    # Constant-time against every candidate, so the comparison leaks nothing of the expected digest.
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
