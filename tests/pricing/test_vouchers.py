"""Voucher redemption and release: limits, idempotency, exactly-once release, errors with codes."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shop.pricing.exceptions import VoucherCustomerLimit, VoucherExhausted, VoucherExpired, VoucherInvalid
from shop.pricing.models import Voucher, VoucherRedemption
from shop.pricing.selectors import voucher_get_usable
from shop.pricing.services.vouchers import voucher_redeem, voucher_redemption_release
from tests.catalog.factories import UserFactory
from tests.pricing.factories import make_voucher

pytestmark = pytest.mark.django_db


def test_redeem_counts_one_use_and_records_the_customer():
    voucher = make_voucher("Spring", usage_limit=5)
    redemption = voucher_redeem(code="SPRING", reference="order-1", email="guest@example.com")
    voucher.refresh_from_db()
    assert voucher.uses == 1
    assert (redemption.voucher_id, redemption.reference, redemption.email) == (
        voucher.pk,
        "order-1",
        "guest@example.com",
    )


def test_redeeming_again_for_the_same_order_counts_no_second_use():
    voucher = make_voucher("ONCE", usage_limit=1)
    first = voucher_redeem(code="once", reference="order-1", email="a@example.com")
    again = voucher_redeem(code="ONCE", reference="order-1", email="a@example.com")
    voucher.refresh_from_db()
    assert again.pk == first.pk and voucher.uses == 1


def test_the_last_use_goes_to_one_order_and_the_next_is_exhausted():
    make_voucher("LAST", usage_limit=1)
    voucher_redeem(code="LAST", reference="order-1", email="a@example.com")
    with pytest.raises(VoucherExhausted) as caught:
        voucher_redeem(code="LAST", reference="order-2", email="b@example.com")
    assert caught.value.as_dict()["code"] == "voucher_exhausted"


def test_per_customer_limit_counts_account_and_email_and_rolls_the_use_back():
    voucher = make_voucher("PERSON", per_customer_limit=1, usage_limit=10)
    user = UserFactory(email="shopper@example.com")
    voucher_redeem(code="PERSON", reference="order-1", user=user)
    with pytest.raises(VoucherCustomerLimit):
        voucher_redeem(code="PERSON", reference="order-2", user=user)
    with pytest.raises(VoucherCustomerLimit):
        voucher_redeem(code="PERSON", reference="order-3", email="SHOPPER@example.com")
    voucher.refresh_from_db()
    assert voucher.uses == 1
    voucher_redeem(code="PERSON", reference="order-4", email="someone.else@example.com")


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"is_active": False}, VoucherInvalid, "voucher_invalid"),
        ({"starts_in": timedelta(days=1)}, VoucherInvalid, "voucher_invalid"),
        (
            {"starts_in": -timedelta(days=10), "ends_in": -timedelta(days=1)},
            VoucherExpired,
            "voucher_expired",
        ),
    ],
)
def test_unusable_vouchers_are_refused_with_their_code(kwargs, error, code):
    make_voucher("NOPE", **kwargs)
    with pytest.raises(error) as caught:
        voucher_redeem(code="nope", reference="order-1", email="a@example.com")
    assert caught.value.as_dict() == {"code": code, "detail": str(caught.value.message), "field": "code"}
    assert not VoucherRedemption.objects.exists()


def test_unknown_code_is_invalid():
    with pytest.raises(VoucherInvalid):
        voucher_get_usable(code="NO-SUCH-CODE")


def test_release_gives_the_use_back_exactly_once():
    voucher = make_voucher("BACK", usage_limit=1)
    voucher_redeem(code="BACK", reference="order-1", email="a@example.com")
    assert voucher_redemption_release(reference="order-1") == 1
    assert voucher_redemption_release(reference="order-1") == 0
    voucher.refresh_from_db()
    assert voucher.uses == 0
    voucher_redeem(code="BACK", reference="order-2", email="b@example.com")
    voucher.refresh_from_db()
    assert voucher.uses == 1


def test_database_refuses_more_uses_than_the_limit():
    voucher = make_voucher("CAP", usage_limit=1)
    Voucher.objects.filter(pk=voucher.pk).update(uses=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Voucher.objects.filter(pk=voucher.pk).update(uses=F("uses") + 1)


def test_codes_are_unique_whatever_their_case():
    make_voucher("DUP")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_voucher("dup")


def test_redeem_is_two_writes_and_a_few_reads(django_assert_max_num_queries):
    make_voucher("FAST", usage_limit=3)
    connection.ensure_connection()
    with django_assert_max_num_queries(7):
        voucher_redeem(code="FAST", reference="order-1", email="a@example.com")


operations = st.lists(
    st.tuples(
        st.sampled_from(["redeem", "release"]), st.integers(min_value=0, max_value=5), st.integers(0, 2)
    ),
    max_size=25,
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, limit=st.none() | st.integers(min_value=1, max_value=4))
def test_uses_always_equal_the_unreleased_redemptions_within_the_limit(ops, limit):
    VoucherRedemption.objects.all().delete()
    Voucher.objects.all().delete()
    voucher = make_voucher("RANDOM", usage_limit=limit, per_customer_limit=2)
    for op, order, customer in ops:
        try:
            if op == "redeem":
                voucher_redeem(code="RANDOM", reference=f"order-{order}", email=f"c{customer}@example.com")
            else:
                voucher_redemption_release(reference=f"order-{order}")
        except (VoucherExhausted, VoucherCustomerLimit):
            pass
        voucher.refresh_from_db()
        active = VoucherRedemption.objects.filter(voucher=voucher, released_at=None)
        assert voucher.uses == active.count()
        assert limit is None or voucher.uses <= limit
        for c in range(3):
            assert active.filter(email=f"c{c}@example.com").count() <= 2
