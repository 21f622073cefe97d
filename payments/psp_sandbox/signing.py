"""Webhook signatures: `PSP-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""

import hashlib
import hmac
import time

HEADER = "PSP-Signature"


def _digest(payload: bytes, secret: str, timestamp: int) -> str:
    message = str(int(timestamp)).encode() + b"." + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The PSP-Signature header value for `payload` (the raw body) at `timestamp`."""
    if timestamp is None:
        timestamp = int(time.time())
    return f"t={int(timestamp)},v1={_digest(payload, secret, timestamp)}"


def verify(payload: bytes, header: str, secret: str, *, tolerance: int = 300, now: int | None = None) -> bool:
    """True when `header` signs `payload` with `secret` and its timestamp is within `tolerance` seconds."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(payload, secret, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
