"""Back-in-stock alerts per variant: a sold-out size or colour can be asked for; a restock of that
variant (in any warehouse) e-mails each subscriber exactly once; product alerts keep working."""

import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from catalog.engagement.models import StockAlert
from catalog.engagement.services import stock_alert_subscribe, stock_alerts_send
from catalog.models import OptionValue
from catalog.services.stock import stock_restock
from shop.core.exceptions import ShopError
from tests.catalog.factories import make_apparel, make_product, make_warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def tee(rates):
    product, variants = make_apparel(
        name="Nimbus Tee", sizes=("M", "L"), colours=("Red",), stock={("M", "Red"): 3}
    )
    return product, variants


def test_product_page_offers_an_alert_for_a_sold_out_variant(tee):
    product, variants = tee
    OptionValue.objects.filter(value="Red").update(label_de="Rot")
    page = Client().get(product.get_absolute_url()).content.decode()
    assert "Sold out in your size or colour?" in page
    assert f'<option value="{variants[("L", "Red")].pk}">L / Red</option>' in page
    assert f'<option value="{variants[("M", "Red")].pk}">' not in page  # in stock: nothing to wait for
    german = Client().get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert ">L / Rot</option>" in german


def test_restock_of_the_variant_emails_each_subscriber_exactly_once(tee, django_capture_on_commit_callbacks):
    product, variants = tee
    large, medium = variants[("L", "Red")], variants[("M", "Red")]
    for email in ("ann@example.com", "bob@example.com", "ann@example.com"):
        response = Client().post("/stock-alerts/", {"product": product.pk, "variant": large.pk, "email": email})
        assert response.status_code == 302
    assert StockAlert.objects.filter(variant=large).count() == 2
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):  # another variant: nobody is told
        stock_restock(variant_id=medium.pk, quantity=5, reason="delivery")
    assert mail.outbox == []
    us = make_warehouse("us", country="US", priority=5)
    with django_capture_on_commit_callbacks(execute=True):  # that variant, in any warehouse
        stock_restock(variant_id=large.pk, warehouse_id=us.pk, quantity=2, reason="delivery")
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "bob@example.com"]
    assert {m.subject for m in mail.outbox} == {"Nimbus Tee (L / Red) is back in stock"}
    assert stock_alerts_send(product_id=product.pk) == 0
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(variant_id=large.pk, quantity=2, reason="delivery")
    assert len(mail.outbox) == 2


def test_product_alerts_still_hear_any_variant(tee, django_capture_on_commit_callbacks):
    product, variants = tee
    stock_alert_subscribe(product=product, email="cy@example.com")
    stock_alert_subscribe(product=product, variant=variants[("L", "Red")], email="cy@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(variant_id=variants[("M", "Red")].pk, quantity=1, reason="delivery")
    assert [m.subject for m in mail.outbox] == ["Nimbus Tee is back in stock"]
    assert StockAlert.objects.filter(variant__isnull=False, notified_at__isnull=True).count() == 1


def test_a_variant_of_another_product_is_refused(tee):
    product, _variants = tee
    other, other_variants = make_apparel(sizes=("S",), colours=("Blue",))
    with pytest.raises(ShopError) as info:
        stock_alert_subscribe(product=product, variant=other_variants[("S", "Blue")], email="x@example.com")
    assert info.value.field == "variant"
    response = Client().post(
        "/stock-alerts/", {"product": product.pk, "variant": other_variants[("S", "Blue")].pk, "email": "x@example.com"}
    )
    assert response.status_code == 302 and not StockAlert.objects.exists()
    assert Client().post("/stock-alerts/", {"product": product.pk, "variant": 999999, "email": "x@example.com"}).status_code == 404


def test_plain_product_alert_page_unchanged(rates):
    product = make_product(name="Kettle", on_hand=0)
    page = Client().get(product.get_absolute_url()).content.decode()
    assert "Out of stock: tell me when it is back" in page and "Sold out in your size" not in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (real concurrent senders)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_email_each_variant_subscriber_once(tee):
    product, variants = tee
    large = variants[("L", "Red")]
    for n in range(5):
        stock_alert_subscribe(product=product, variant=large, email=f"s{n}@example.com")
    stock_restock(variant_id=large.pk, quantity=1, reason="delivery")  # marks them due (task eager or queued)
    StockAlert.objects.update(notified_at=None)
    mail.outbox.clear()
    results = []

    def send():
        try:
            results.append(stock_alerts_send(product_id=product.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 5 and len(mail.outbox) == 5
    assert sorted(m.to[0] for m in mail.outbox) == [f"s{n}@example.com" for n in range(5)]
