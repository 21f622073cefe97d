"""Who may download an order's invoice and credit notes: the order page, the API and admin."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from shop.orders.models import InvoiceKind
from shop.orders.services.transitions import order_refund
from tests.orders.factories import UserFactory, cart_fill, shopper_new
from tests.orders.test_admin import staff_client
from tests.orders.test_invoices import pdf_text
from tests.orders.test_services import place_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded(shopper, product):
    """A paid order of `shopper`, refunded in full: an invoice and a credit note."""
    cart_fill(shopper, (product, 2))
    order = place_wallet(shopper).order
    order_refund(order_id=order.id)
    return order


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page_url(order, invoice) -> str:
    return f"/orders/{order.number}/invoice/{invoice.number}.pdf"


def _assert_pdf(response, invoice):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    body = b"".join(response) if response.streaming else response.content
    assert body.startswith(b"%PDF-")
    assert invoice.number in pdf_text(body)


def test_the_order_page_links_the_invoice_and_credit_note_and_the_owner_downloads_them(shopper, refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    note = refunded.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    browser = _browser(shopper)
    html = browser.get(f"/orders/{refunded.number}/").content.decode()
    assert f'href="{_page_url(refunded, invoice)}"' in html and "Invoice (PDF)" in html
    assert f'href="{_page_url(refunded, note)}"' in html and f"Credit note {note.number} (PDF)" in html
    _assert_pdf(browser.get(_page_url(refunded, invoice)), invoice)
    _assert_pdf(browser.get(_page_url(refunded, note)), note)


def test_another_shopper_gets_404_and_an_anonymous_visitor_the_login_page(refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    other = _browser(shopper_new())
    assert other.get(_page_url(refunded, invoice)).status_code == 404
    assert _browser(refunded.user).get(f"/orders/{refunded.number}/invoice/INV-0000-000000.pdf").status_code == 404
    response = Client().get(_page_url(refunded, invoice))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_staff_need_the_view_invoice_permission_to_open_any_order_s_document(refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    assert staff_client().get(_page_url(refunded, invoice)).status_code == 404
    _assert_pdf(staff_client(perms=["orders.view_invoice"]).get(_page_url(refunded, invoice)), invoice)


def test_the_api_serves_the_owner_s_invoice_pdf_and_lists_the_documents(shopper, refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    note = refunded.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    api = APIClient()
    api.force_authenticate(shopper)
    _assert_pdf(api.get(f"/api/v1/orders/{refunded.number}/invoice.pdf"), invoice)
    # The PDF is served whatever the client asks for; errors stay JSON.
    _assert_pdf(api.get(f"/api/v1/orders/{refunded.number}/invoice.pdf", HTTP_ACCEPT="application/pdf"), invoice)
    documents = api.get(f"/api/v1/orders/{refunded.number}/").json()["documents"]
    assert [(d["kind"], d["number"], d["total"]) for d in documents] == [
        ("invoice", invoice.number, {"amount": "20.00", "currency": "USD"}),
        ("credit_note", note.number, {"amount": "20.00", "currency": "USD"}),
    ]
    assert documents[1]["url"] == f"/api/v1/orders/{refunded.number}/documents/{note.number}.pdf"
    _assert_pdf(api.get(documents[1]["url"]), note)
    listed = api.get("/api/v1/orders/").json()["results"][0]["documents"]
    assert [d["number"] for d in listed] == [invoice.number, note.number]


def test_the_api_answers_404_to_anyone_else_and_401_without_a_session(refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    staff = UserFactory(is_staff=True, is_superuser=True)
    for user in (shopper_new(), staff):  # staff too: the API is the shopper's own
        api = APIClient()
        api.force_authenticate(user)
        for url in (f"/api/v1/orders/{refunded.number}/invoice.pdf",
                    f"/api/v1/orders/{refunded.number}/documents/{invoice.number}.pdf"):
            response = api.get(url, HTTP_ACCEPT="application/pdf")
            assert response.status_code == 404
            assert response["Content-Type"] == "application/json"
            assert response.json()["code"] == "not_found"
    response = APIClient().get(f"/api/v1/orders/{refunded.number}/invoice.pdf")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_unpaid_order_has_no_invoice_in_the_api(shopper, product):
    cart_fill(shopper, (product, 1))
    order = place_wallet(shopper).order
    order.invoices.all().delete()  # as an order that never got paid
    api = APIClient()
    api.force_authenticate(shopper)
    assert api.get(f"/api/v1/orders/{order.number}/invoice.pdf").status_code == 404
    assert api.get(f"/api/v1/orders/{order.number}/").json()["documents"] == []


def test_the_order_list_api_reads_documents_in_one_query_whatever_the_page_size(
    shopper, product, django_assert_max_num_queries
):
    for _ in range(3):
        cart_fill(shopper, (product, 1))
        place_wallet(shopper)
    api = APIClient()
    api.force_authenticate(shopper)
    with django_assert_max_num_queries(8) as few:
        api.get("/api/v1/orders/")
    for _ in range(3):
        cart_fill(shopper, (product, 1))
        place_wallet(shopper)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/v1/orders/").json()["results"]) == 6


def test_admin_lists_documents_read_only_and_downloads_them(refunded, admin_client):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    note = refunded.invoices.get(kind=InvoiceKind.CREDIT_NOTE)
    page = admin_client.get(f"/admin/orders/order/{refunded.pk}/change/").content.decode()
    assert invoice.number in page and note.number in page
    assert f'/admin/orders/invoice/{invoice.pk}/pdf/' in page
    listing = admin_client.get("/admin/orders/invoice/").content.decode()
    assert invoice.number in listing and note.number in listing
    assert "Add invoice" not in listing
    _assert_pdf(admin_client.get(f"/admin/orders/invoice/{note.pk}/pdf/"), note)
    detail = admin_client.get(f"/admin/orders/invoice/{note.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.post(f"/admin/orders/invoice/{note.pk}/delete/", {"post": "yes"}).status_code == 403


def test_admin_pdf_needs_the_view_permission(refunded):
    invoice = refunded.invoices.get(kind=InvoiceKind.INVOICE)
    assert staff_client().get(f"/admin/orders/invoice/{invoice.pk}/pdf/").status_code == 403
    viewer = staff_client(perms=["orders.view_invoice"])
    _assert_pdf(viewer.get(f"/admin/orders/invoice/{invoice.pk}/pdf/"), invoice)
