from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.countries import country_choices


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        """The whole address in lower case: `Ann@X.com` and `ann@x.com` are one person."""
        return (email or "").strip().lower()

    def get_by_natural_key(self, email):
        return self.get(email__iexact=(email or "").strip())

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account. The e-mail address is the login, unique in any case."""

    email = models.EmailField(_("e-mail address"), max_length=254)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    preferred_language = models.CharField(_("preferred language"), max_length=8, blank=True)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Address(models.Model):
    """A postal address of a user; at most one is the default for shipping."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("user"))
    full_name = models.CharField(_("full name"), max_length=150)
    line1 = models.CharField(_("address line 1"), max_length=200)
    line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100)
    postal_code = models.CharField(_("postal code"), max_length=20)
    region = models.CharField(_("state or region"), max_length=100, blank=True)
    # The code as before (ISO 3166-1 alpha-2); the choices and their names come from django-countries.
    country = models.CharField(
        _("country"), max_length=2, choices=country_choices, help_text=_("ISO 3166-1 alpha-2 code")
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    is_default_shipping = models.BooleanField(_("default shipping address"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default_shipping", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_default_shipping=True),
                name="accounts_address_one_default_shipping",
            ),
        ]

    def __str__(self):
        return f"{self.full_name}, {self.line1}, {self.postal_code} {self.city}, {self.country}"

    def as_snapshot(self) -> dict:
        """The address as plain data, for orders to keep as they were."""
        return {
            "full_name": self.full_name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "postal_code": self.postal_code,
            "region": self.region,
            "country": self.country,
            "phone": self.phone,
        }


class ErasureRequest(models.Model):
    """A person's request to be erased (GDPR article 17): when, how, and what came of it.

    Holds no personal data: the user row it points to is anonymised when the request is done.
    """

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")

    class Channel(models.TextChoices):
        API = "api", _("API")
        PAGE = "page", _("Account page")

    user = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="erasure_requests", verbose_name=_("user")
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    refusal_code = models.CharField(_("refusal code"), max_length=64, blank=True)
    summary = models.JSONField(_("what was erased"), default=dict, blank=True)
    requested_at = models.DateTimeField(_("requested"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ["-requested_at", "-id"]

    def __str__(self):
        return f"{self.requested_at:%Y-%m-%d %H:%M} user {self.user_id}: {self.status}"
