"""The sandbox provider's own records: charges, refunds, payouts, webhook events.

These tables belong to the stand-in provider, not to the shop: the shop only
ever sees them over HTTP. Each object type has a unique idempotency key, so a
repeated request finds the first object instead of creating a second one.
"""

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def charge_id() -> str:
    return _new_id("ch")


def refund_id() -> str:
    return _new_id("re")


def payout_id() -> str:
    return _new_id("po")


def event_id() -> str:
    return _new_id("evt")


class SandboxStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class SandboxCharge(models.Model):
    id = models.CharField(_("id"), max_length=40, primary_key=True, default=charge_id, editable=False)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    amount = MoneyField(_("amount"), max_digits=18, decimal_places=3, default_currency=None)
    token = models.CharField(_("card token"), max_length=64)
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SandboxStatus.choices)
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("sandbox charge")
        verbose_name_plural = _("sandbox charges")

    def __str__(self):
        return f"{self.id} {self.amount} {self.status}"


class SandboxRefund(models.Model):
    id = models.CharField(_("id"), max_length=40, primary_key=True, default=refund_id, editable=False)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    charge = models.ForeignKey(
        SandboxCharge, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("charge")
    )
    amount = MoneyField(_("amount"), max_digits=18, decimal_places=3, default_currency=None)
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SandboxStatus.choices)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("sandbox refund")
        verbose_name_plural = _("sandbox refunds")

    def __str__(self):
        return f"{self.id} {self.amount} of {self.charge_id}"


class SandboxPayout(models.Model):
    id = models.CharField(_("id"), max_length=40, primary_key=True, default=payout_id, editable=False)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    amount = MoneyField(_("amount"), max_digits=18, decimal_places=3, default_currency=None)
    token = models.CharField(_("card token"), max_length=64)
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SandboxStatus.choices)
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("sandbox payout")
        verbose_name_plural = _("sandbox payouts")

    def __str__(self):
        return f"{self.id} {self.amount} {self.status}"


class SandboxScriptCounter(models.Model):
    """How often a scripted token (tok_flaky) was called per (operation, idempotency key)."""

    operation = models.CharField(_("operation"), max_length=16)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    calls = models.PositiveIntegerField(_("calls"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "idempotency_key"], name="psp_sandbox_counter_unique_key"
            )
        ]
        verbose_name = _("sandbox script counter")
        verbose_name_plural = _("sandbox script counters")

    def __str__(self):
        return f"{self.operation} {self.idempotency_key}: {self.calls}"


class SandboxEvent(models.Model):
    """A webhook event; `body` is the exact JSON text that is signed and sent."""

    id = models.CharField(_("id"), max_length=40, primary_key=True, default=event_id, editable=False)
    type = models.CharField(_("type"), max_length=40)
    object_id = models.CharField(_("object id"), max_length=40, db_index=True)
    body = models.TextField(_("body"))
    target_url = models.CharField(_("target URL"), max_length=500, blank=True)
    attempts = models.JSONField(_("delivery attempts"), default=list, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("sandbox event")
        verbose_name_plural = _("sandbox events")

    def __str__(self):
        return f"{self.id} {self.type}"
