"""Admin at 1280x800: every changelist of a model with a status-like field shows that column without
scrolling sideways (its header's right edge inside the viewport), and app sections have human names."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import User
from tests.e2e.journeys import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 800}
# Field names that hold a row's state, in the order a column is looked for.
STATUS_NAMES = ("status", "state", "outcome", "result", "resolved", "is_active", "active", "enabled")
# Values a model's check constraints need beyond "every required field set".
OVERRIDES = {
    "payments.FraudRule": {"max_attempts": 5},
    "shipping.Carrier": {"tracking_url_template": "https://track.example.com/?n={tracking_number}"},
    **{f"psp_sandbox.{name}": {"amount": Money("1.00", "USD")} for name in ("SandboxCharge", "SandboxRefund",
                                                                           "SandboxPayout")},
}


def status_field(model) -> str | None:
    names = [f.name for f in model._meta.concrete_fields]
    return next((n for n in STATUS_NAMES if n in names), None)


def _value(field: models.Field, depth: int):
    """A valid value for a required field (choices first; foreign keys get a row of their own)."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        return row_for(field.related_model, depth + 1)
    if isinstance(field, models.EmailField):
        return f"{uuid.uuid4().hex[:8]}@example.com"
    if isinstance(field, models.CharField | models.TextField | models.SlugField):
        # As wide as a real reference or key (32 characters that cannot wrap), so a column is as wide as live.
        return uuid.uuid4().hex[: min(field.max_length or 32, 32)]
    if isinstance(field, models.DecimalField):
        return Decimal(1)
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.IntegerField | models.PositiveIntegerField | models.SmallIntegerField):
        return 1
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    return None


def row_for(model, depth: int = 0):
    """One row of `model` with a value for every required field: the changelist then shows its header."""
    existing = model._default_manager.first()
    if existing is not None:
        return existing
    assert depth < 6, f"no row could be made for {model._meta.label}"
    values = {}
    for field in model._meta.concrete_fields:
        if field.name in OVERRIDES.get(model._meta.label, {}) or field.primary_key or field.has_default() or field.null or getattr(field, "auto_now", False) \
                or getattr(field, "auto_now_add", False):
            continue
        value = _value(field, depth)
        if value is not None:
            values[field.name] = value
    values.update(OVERRIDES.get(model._meta.label, {}))
    if model is User:
        return User.objects.create_user(email=f"{uuid.uuid4().hex[:8]}@example.com", password=PASSWORD)
    try:
        with transaction.atomic():
            return model._default_manager.create(**values)
    except IntegrityError as exc:
        raise AssertionError(f"{model._meta.label}: {exc}") from exc


def status_changelists() -> list[tuple[str, str, str]]:
    """(label, changelist URL, status field) of every registered model with a status-like field."""
    found = []
    for model, model_admin in admin.site._registry.items():
        field = status_field(model)
        if field is None:
            continue
        meta = model._meta
        found.append((meta.label, f"/admin/{meta.app_label}/{meta.model_name}/", field))
        assert field in model_admin.list_display, f"{meta.label}: the list has no {field} column"
    return sorted(found)


def test_every_status_column_is_visible_at_1280_px(new_page, shot):
    User.objects.create_superuser(email="staff.cols@example.com", password=PASSWORD)
    lists = status_changelists()
    assert len(lists) >= 20  # orders, payments, wallets, withdrawals, refunds, returns, ... all found
    for label, _url, _field in lists:
        row_for(apps.get_model(label))
    page = new_page()
    page.set_viewport_size(VIEWPORT)
    page.goto("/admin/")
    page.locator("input[name=username]").fill("staff.cols@example.com")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("#user-tools")).to_be_visible()
    too_wide = []
    for label, url, field in lists:
        page.goto(url)
        header = page.locator(f"#result_list thead th.column-{field}")
        expect(header).to_have_count(1)
        box = header.bounding_box()
        if box["x"] + box["width"] > VIEWPORT["width"]:
            too_wide.append(f"{label}: {field} ends at {box['x'] + box['width']:.0f} px")
            shot(page, f"too-wide-{label}")
    assert not too_wide, "status columns off screen at 1280 px:\n" + "\n".join(too_wide)


def test_admin_sections_have_human_names(new_page, shot):
    """One section per app, each with a name a person would write (no app labels, no two alike)."""
    User.objects.create_superuser(email="staff.names@example.com", password=PASSWORD)
    page = new_page()
    page.set_viewport_size(VIEWPORT)
    page.goto("/admin/")
    page.locator("input[name=username]").fill("staff.names@example.com")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()
    names = [n.strip() for n in page.locator("#content-main .module caption a").all_text_contents()]
    shot(page, "admin-index")
    assert len(names) == len(set(names)), names
    assert "Payment provider sandbox" in names and "Accounts" not in names and "Exchange" not in names
    assert not [n for n in names if "_" in n or n.isupper()], names
