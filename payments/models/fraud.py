"""Fraud screening: velocity rules, held payments and the verdict on each screened payment."""


from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from payments.models.pay_ins import Payment


class FraudRule(models.Model):
    """A velocity limit on card payments per user or per card token within a time window."""

    class Scope(models.TextChoices):
        USER = "user", _("User")
        TOKEN = "token", _("Card token")

    class Verdict(models.TextChoices):
        REFUSE = "refuse", _("Refuse")
        HOLD = "hold", _("Hold for review")

    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices, default=Scope.USER)
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=60)
    max_attempts = models.PositiveIntegerField(
        _("max attempts"), null=True, blank=True,
        help_text=_("More card payments than this in the window (this one included) trigger the rule."),
    )
    max_declines = models.PositiveIntegerField(
        _("max declines"), null=True, blank=True,
        help_text=_("Once this many payments were declined in the window, further ones trigger the rule."),
    )
    action = models.CharField(_("action"), max_length=8, choices=Verdict.choices, default=Verdict.REFUSE)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("fraud rule")
        verbose_name_plural = _("fraud rules")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_attempts__isnull=False) | Q(max_declines__isnull=False),
                name="payments_fraudrule_has_a_limit",
            ),
            models.CheckConstraint(condition=Q(window_minutes__gt=0), name="payments_fraudrule_window_positive"),
        ]

    def __str__(self):
        return self.name


class PaymentHold(models.Model):
    """A card payment kept pending for staff review by a fraud rule; released or refused once."""

    class Status(models.TextChoices):
        HELD = "held", _("Held for review")
        RELEASED = "released", _("Released")
        REFUSED = "refused", _("Refused")

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="hold")
    rule = models.ForeignKey(FraudRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="holds")
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("held payment")
        verbose_name_plural = _("held payments")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.payment_id} · {self.get_status_display()}"


class PaymentScreening(models.Model):
    """The fraud rules' verdict on one card payment, written under the per-user/per-token screening lock.

    A `pass` whose payment has no final outcome yet is an attempt in flight:
    the next screening of the same user or token counts it as a possible
    decline, so concurrent payments cannot all slip under a declines limit.
    """

    class Verdict(models.TextChoices):
        PASS = "pass", _("Passed")
        HOLD = "hold", _("Held for review")
        REFUSE = "refuse", _("Refused")

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, related_name="screening")
    verdict = models.CharField(_("verdict"), max_length=8, choices=Verdict.choices)
    rule = models.ForeignKey(FraudRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment screening")
        verbose_name_plural = _("payment screenings")

    def __str__(self):
        return f"{self.payment_id} · {self.get_verdict_display()}"
