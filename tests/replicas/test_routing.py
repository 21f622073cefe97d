"""The database router against a real streaming replica (see conftest.py): what is read where."""

import time
import uuid
from contextvars import copy_context

import pytest
from django.db import connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, ProductPurchase, Stock
from shop.core import db as replica_db
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def routed(replica, settings):
    """A fresh context (unpinned) with fresh replica health, lag allowed up to a minute."""
    settings.REPLICA_MAX_LAG_SECONDS = 60
    replica_db.replica_health_forget()
    yield replica
    replica_db.replica_health_forget()


def fresh(fn, *args):
    """Run `fn` as a new request or task would: in a context nothing has pinned yet."""
    ctx = copy_context()
    return ctx.run(lambda: (replica_db._pinned.set(False), fn(*args))[1])


def served_by(fn) -> tuple[object, str, bool]:
    """(fn's result, the alias its product query used, whether that connection is in recovery)."""
    def run():
        queryset = fn()
        alias = queryset.db
        result = list(queryset)
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            return result, alias, cursor.fetchone()[0]
    return fresh(run)


def test_catalog_reads_are_served_by_the_replica(routed):
    product = make_product(price="10.00", on_hand=3)
    routed.wait_caught_up()
    with CaptureQueriesContext(connections[routed.alias]) as on_replica:
        rows, alias, in_recovery = served_by(lambda: Product.objects.filter(pk=product.pk))
    assert alias == routed.alias
    assert in_recovery is True
    assert [p.pk for p in rows] == [product.pk]
    assert any("catalog_product" in q["sql"] for q in on_replica.captured_queries)


def test_other_apps_read_from_the_primary(routed):
    from accounts.models import User

    _rows, alias, in_recovery = served_by(lambda: User.objects.all())
    assert (alias, in_recovery) == ("default", False)
    _rows, alias, in_recovery = served_by(lambda: Stock.objects.all())
    assert (alias, in_recovery) == ("default", False)


def test_a_write_pins_the_reads_that_follow_to_the_primary(routed):
    product = make_product(price="10.00", on_hand=3)
    routed.wait_caught_up()

    def write_then_read():
        assert Product.objects.all().db == routed.alias
        Product.objects.filter(pk=product.pk).update(name="Renamed")
        return Product.objects.all().db

    assert fresh(write_then_read) == "default"


def test_raw_sql_writes_pin_too(routed):
    def raw_write_then_read():
        with connections["default"].cursor() as cursor:
            cursor.execute("UPDATE catalog_product SET name = name WHERE id = -1")
        return Product.objects.all().db

    assert fresh(raw_write_then_read) == "default"


def test_reads_inside_a_transaction_go_to_the_primary(routed):
    def read_in_transaction():
        with transaction.atomic():
            return Product.objects.all().db

    assert fresh(read_in_transaction) == "default"


def test_replica_reads_block_goes_to_the_replica_after_a_write(routed):
    def report():
        ProductPurchase.objects.filter(pk=-1).delete()  # a write: pinned
        with replica_db.replica_reads():
            from payments.models import Payment

            return Payment.objects.all().db

    assert fresh(report) == routed.alias


def test_a_write_inside_a_replica_reads_block_pins_the_rest(routed):
    def repair_then_read():
        with replica_db.replica_reads():
            before = Product.objects.all().db
            ProductPurchase.objects.filter(pk=-1).delete()
            inside = Product.objects.all().db
        return before, inside, Product.objects.all().db

    assert fresh(repair_then_read) == (routed.alias, "default", "default")


def test_a_stopped_replica_is_skipped(routed):
    make_product(price="10.00", on_hand=1)
    routed.stop()
    try:
        assert replica_db.replica_lag_seconds(routed.alias) is None
        rows, alias, _ = served_by(lambda: Product.objects.all())
        assert alias == "default" and rows
    finally:
        routed.start()
    assert fresh(lambda: Product.objects.all().db) == routed.alias


def test_a_lagging_replica_is_skipped(routed, settings):
    routed.sql("SELECT pg_wal_replay_pause()")
    try:
        make_product(price="10.00", on_hand=1)
        for _ in range(200):  # until the replica has received WAL it has not replayed
            if routed.sql("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")[0]:
                break
            time.sleep(0.05)
        settings.REPLICA_MAX_LAG_SECONDS = 0
        replica_db.replica_health_forget()
        assert replica_db.replica_lag_seconds(routed.alias) > 0
        assert fresh(lambda: Product.objects.all().db) == "default"
    finally:
        routed.sql("SELECT pg_wal_replay_resume()")


def _checkout(client: Client, user, key: str):
    return client.post(
        "/api/v1/orders/",
        {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": user.addresses.first().pk},
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


def test_read_your_writes_right_after_checkout(routed, rates):
    """The page after a checkout shows the purchase even while the replica lags behind it."""
    shopper = shopper_new()
    product = make_product(price="10.00", on_hand=5)
    cart_fill(shopper, (product, 1))
    buyer = Client()
    buyer.force_login(shopper)
    routed.wait_caught_up()
    routed.sql("SELECT pg_wal_replay_pause()")
    try:
        response = _checkout(buyer, shopper, str(uuid.uuid4()))
        assert response.status_code == 201, response.content
        assert replica_db.PIN_COOKIE in response.cookies
        # The same browser, right after: its reads go to the primary and see the purchase.
        page = buyer.get(f"/p/{product.slug}/")
        assert page.status_code == 200
        assert page.context["can_review"] is True
        # Another session of the same shopper, not pinned, reads the lagging replica: no purchase yet.
        other = Client()
        other.force_login(shopper)
        assert other.get(f"/p/{product.slug}/").context["can_review"] is False
    finally:
        routed.sql("SELECT pg_wal_replay_resume()")
    routed.wait_caught_up()
    other = Client()
    other.force_login(shopper)
    assert other.get(f"/p/{product.slug}/").context["can_review"] is True


def test_staff_reports_and_reconciliation_read_from_the_replica(routed):
    from accounts.models import User
    from payments.reconciliation.runs import reconciliation_run, reconciliation_yesterday

    staff = User.objects.create_superuser(email="boss@example.com", password="x")
    browser = Client()
    browser.force_login(staff)
    routed.wait_caught_up()
    with CaptureQueriesContext(connections[routed.alias]) as on_replica:
        assert browser.get("/admin/staff/dashboard/").status_code == 200
        assert browser.get("/admin/staff/reports/?export=daily_sales&start=2026-01-01&end=2026-01-31").status_code == 200
    tables = " ".join(q["sql"] for q in on_replica.captured_queries)
    assert "orders_order" in tables and "payments_payment" in tables

    with CaptureQueriesContext(connections[routed.alias]) as on_replica:
        run = fresh(lambda: reconciliation_run(day=reconciliation_yesterday()))
    assert "payments_ledgerentry" in " ".join(q["sql"] for q in on_replica.captured_queries)
    # No provider runs here: its report is the one finding; the ledger read from the replica agrees.
    assert set(run.items.values_list("kind", flat=True)) == {"provider_unavailable"}


def test_each_celery_task_starts_unpinned_and_leaves_the_caller_pinned(routed):
    from shop.celery import app

    @app.task(name="tests.replicas.catalog_db")
    def catalog_db():
        return Product.objects.all().db

    def write_then_task():
        ProductPurchase.objects.filter(pk=-1).delete()  # the caller wrote: pinned
        # .result, not .get(): an in-process worker started by an earlier test leaves Celery's
        # "joining would block" flag set, and .get() then refuses to run here.
        in_task = catalog_db.apply().result
        return in_task, Product.objects.all().db

    assert fresh(write_then_task) == (routed.alias, "default")
