"""Records that make requests safe to repeat: API idempotency keys and provider webhook events."""


from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key: the request it stood for and the answer it got."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("key"), max_length=255)
    scope = models.CharField(_("scope"), max_length=64)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    # The running request's claim: who holds it and until when (a dead worker's claim expires).
    lease_token = models.CharField(_("lease token"), max_length=32, blank=True)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    # The object the request created (e.g. "payments.payment", 42), recorded as soon as it exists.
    resource_type = models.CharField(_("created object type"), max_length=64, blank=True)
    resource_id = models.CharField(_("created object id"), max_length=64, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="payments_idempotencykey_user_key")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"


class WebhookEvent(models.Model):
    """A provider event received once; its id deduplicates redeliveries."""

    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"))
    result = models.CharField(_("result"), max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.event_id} {self.type}"


# --- reconciliation, fraud rules, audit (staff operations) ------------------------------
