"""Demo accounts: a verified shopper with a default address, and a staff superuser. Idempotent."""

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts import services
from accounts.models import User

SHOPPER_EMAIL = "shopper@example.com"
SHOPPER_PASSWORD = "shopper-pass-123"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-pass-123"


def _user(*, email: str, password: str, full_name: str, staff: bool) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(email=email)
    user.full_name = full_name
    user.is_active = True
    user.is_staff = staff
    user.is_superuser = staff
    if not user.check_password(password):
        user.set_password(password)
    user.save()
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def load(*, stdout) -> None:
    with transaction.atomic():
        shopper = _user(email=SHOPPER_EMAIL, password=SHOPPER_PASSWORD, full_name="Sam Shopper", staff=False)
        if not shopper.addresses.exists():
            services.address_create(
                user=shopper,
                full_name="Sam Shopper",
                line1="1 Market Street",
                city="Springfield",
                postal_code="12345",
                region="IL",
                country="US",
                phone="+1 555 0100",
                is_default_shipping=True,
            )
        _user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, full_name="Ada Admin", staff=True)
    stdout.write(f"Demo shopper: {SHOPPER_EMAIL} / {SHOPPER_PASSWORD}\n")
    stdout.write(f"Demo admin:   {ADMIN_EMAIL} / {ADMIN_PASSWORD} (at /admin/)\n")
