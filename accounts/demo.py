"""Demo accounts: a verified shopper with a default address, a staff superuser, and one staff
member per role (support, fulfilment, finance: the groups the migrations make). Idempotent."""

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.db import transaction

from accounts import services
from accounts.models import User

SHOPPER_EMAIL = "shopper@example.com"
SHOPPER_PASSWORD = "shopper-pass-123"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-pass-123"
# Staff who are not superusers: what each role may do in admin (see README, "Staff roles").
ROLE_PASSWORD = "staff-pass-123"
ROLES = {"support": "Sue Support", "fulfilment": "Finn Fulfilment", "finance": "Fay Finance"}


def _user(*, email: str, password: str, full_name: str, staff: bool, superuser: bool | None = None) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(email=email)
    user.full_name = full_name
    user.is_active = True
    user.is_staff = staff
    user.is_superuser = staff if superuser is None else superuser
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
        for role, name in ROLES.items():
            member = _user(email=f"{role}@example.com", password=ROLE_PASSWORD, full_name=name, staff=True, superuser=False)
            group = Group.objects.filter(name=role).first()
            if group is not None:
                member.groups.add(group)
    stdout.write(f"Demo shopper: {SHOPPER_EMAIL} / {SHOPPER_PASSWORD}\n")
    stdout.write(f"Demo admin:   {ADMIN_EMAIL} / {ADMIN_PASSWORD} (at /admin/)\n")
    stdout.write(
        "Demo staff:   " + ", ".join(f"{role}@example.com" for role in ROLES) + f" / {ROLE_PASSWORD} (one role each)\n"
    )
