"""Wishlists, back-in-stock alerts (one e-mail per subscriber per restock, exactly once) and
reported reviews with their moderation."""

import pytest
from django.core import mail
from django.test import Client

from catalog.engagement.models import ReviewReport, StockAlert, WishlistItem
from catalog.engagement.services import review_report, review_reports_decide, stock_alerts_send
from catalog.services.recommendations import product_purchase_record
from catalog.services.reviews import review_create
from catalog.services.stock import stock_restock
from shop.core.exceptions import ShopError
from tests.catalog.factories import UserFactory, make_product

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_wishlist_page_saves_shows_and_removes(rates):
    product, user = make_product(name="Aurora Lamp"), UserFactory()
    client = _client(user)
    assert b"Save to wishlist" in client.get(product.get_absolute_url()).content
    client.post("/wishlist/add/", {"product": product.pk})
    client.post("/wishlist/add/", {"product": product.pk})  # twice: still one
    assert WishlistItem.objects.filter(user=user).count() == 1
    assert b"Saved to your wishlist" in client.get(product.get_absolute_url()).content
    page = client.get("/wishlist/").content.decode()
    assert "Aurora Lamp" in page
    client.post("/wishlist/remove/", {"product": product.pk, "next": "/wishlist/"})
    assert not WishlistItem.objects.exists()
    assert Client().get("/wishlist/").status_code == 302  # guests are sent to log in


def test_wishlist_api_lists_adds_and_deletes(rates):
    product, user = make_product(on_hand=3), UserFactory()
    client = _client(user)
    created = client.post("/api/v1/wishlist/", {"product": product.slug}, content_type="application/json")
    assert created.status_code == 201 and created.json()["available"] == 3
    assert [i["product"] for i in client.get("/api/v1/wishlist/").json()] == [product.slug]
    assert client.delete(f"/api/v1/wishlist/{product.slug}/").status_code == 204
    assert client.get("/api/v1/wishlist/").json() == []
    assert Client().get("/api/v1/wishlist/").status_code in (401, 403)


def test_restock_emails_each_subscriber_once(rates, django_capture_on_commit_callbacks):
    product = make_product(name="Nimbus Kettle", on_hand=0)
    page = Client().get(product.get_absolute_url()).content.decode()
    assert "Out of stock: tell me when it is back" in page
    for email in ("ann@example.com", "bob@example.com", "ann@example.com"):
        Client().post("/stock-alerts/", {"product": product.pk, "email": email})
    assert StockAlert.objects.count() == 2
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(product_id=product.pk, quantity=5, reason="delivery")
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@example.com", "bob@example.com"]
    assert all("Nimbus Kettle is back in stock" == m.subject for m in mail.outbox)
    # Sent is sent: the task again, or another restock, e-mails nobody twice.
    assert stock_alerts_send(product_id=product.pk) == 0
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(product_id=product.pk, quantity=5, reason="delivery")
    assert len(mail.outbox) == 2
    assert StockAlert.objects.filter(notified_at__isnull=True).count() == 0


def test_wishlist_shows_what_is_back(rates, django_capture_on_commit_callbacks):
    product, user = make_product(on_hand=0), UserFactory(email="cy@example.com")
    client = _client(user)
    client.post("/wishlist/add/", {"product": product.pk})
    client.post("/stock-alerts/", {"product": product.pk, "email": user.email})
    with django_capture_on_commit_callbacks(execute=True):
        stock_restock(product_id=product.pk, quantity=2, reason="delivery")
    assert "Back in stock" in client.get("/wishlist/").content.decode()


def _reviewed(product, text: str):
    buyer = UserFactory()
    product_purchase_record(user=buyer, lines=[(product.pk, 1)], reference=f"O-{buyer.pk}")
    return review_create(user=buyer, product=product, rating=1, title=text, body=text)


def test_reported_review_is_hidden_by_staff_with_a_reason(rates, django_capture_on_commit_callbacks):
    product = make_product()
    review = _reviewed(product, "Rude words here")
    reporter, staff = UserFactory(), UserFactory(is_staff=True)
    response = _client(reporter).post(f"/reviews/{review.pk}/report/", {"reason": "Insulting"})
    assert response.status_code == 302
    with pytest.raises(ShopError):
        review_report(user=reporter, review=review, reason="  ")
    assert ReviewReport.objects.get().status == ReviewReport.Status.OPEN
    assert "Rude words here" in Client().get(product.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the page cache is dropped after commit
        assert review_reports_decide(review_id=review.pk, actor=staff, hide=True, reason="Abusive language") == 1
    report = ReviewReport.objects.get()
    assert (report.status, report.decided_by, report.decision_reason) == (
        ReviewReport.Status.HIDDEN, staff, "Abusive language"
    )
    assert "Rude words here" not in Client().get(product.get_absolute_url()).content.decode()
    product.refresh_from_db()
    assert product.rating_count == 1  # the buyer's rating still counts


def test_rating_only_review_counts_but_makes_no_card(rates):
    product = make_product()
    buyer = UserFactory()
    product_purchase_record(user=buyer, lines=[(product.pk, 1)], reference="O-1")
    review_create(user=buyer, product=product, rating=4)
    html = Client().get(product.get_absolute_url()).content.decode()
    assert 'data-review="' not in html
    assert "1 shopper rated without writing a review." in html
