import csv
import io
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Product, Stock, StockMovement
from tests.catalog.factories import make_category, make_product

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/catalog/product/"


def test_changelist_and_change_page_render(admin_client, rates):
    product = make_product(name="Desk Lamp")
    response = admin_client.get(CHANGELIST, {"q": "Desk"})
    assert response.status_code == 200 and b"Desk Lamp" in response.content
    assert admin_client.get(f"{CHANGELIST}{product.pk}/change/").status_code == 200
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 200
    assert admin_client.get("/admin/catalog/category/").status_code == 200
    assert admin_client.get("/admin/catalog/stockmovement/").status_code == 200


def test_restock_action_writes_a_stock_movement_by_the_staff_member(admin_client, admin_user):
    a, b = make_product(on_hand=1), make_product(on_hand=0)
    data = {"action": "restock", ACTION_CHECKBOX_NAME: [a.pk, b.pk]}
    form_page = admin_client.post(CHANGELIST, data)
    assert form_page.status_code == 200 and b"Units to add" in form_page.content
    response = admin_client.post(
        CHANGELIST, {**data, "apply": "1", "quantity": "5", "reason": "delivery", "reference": "PO-1"}
    )
    assert response.status_code == 302
    assert Stock.objects.get(product=a).on_hand == 6 and Stock.objects.get(product=b).on_hand == 5
    movement = StockMovement.objects.get(product=b, kind="restock", reference="PO-1")
    assert (movement.actor, movement.on_hand_delta, movement.reason) == (admin_user, 5, "delivery")


def test_restock_action_refuses_a_bad_quantity(admin_client):
    product = make_product(on_hand=1)
    data = {"action": "restock", ACTION_CHECKBOX_NAME: [product.pk], "apply": "1", "quantity": "-3", "reason": "x"}
    assert admin_client.post(CHANGELIST, data).status_code == 200
    assert Stock.objects.get(product=product).on_hand == 1


def test_bulk_activate_and_deactivate(admin_client):
    a, b = make_product(), make_product()
    admin_client.post(CHANGELIST, {"action": "deactivate", ACTION_CHECKBOX_NAME: [a.pk, b.pk]})
    assert not Product.objects.filter(is_active=True).exists()
    admin_client.post(CHANGELIST, {"action": "activate", ACTION_CHECKBOX_NAME: [a.pk]})
    assert list(Product.objects.filter(is_active=True)) == [a]


def test_csv_export_then_import_round_trips(admin_client):
    category = make_category("Lamps")
    a = make_product(category=category, name="Desk Lamp", price="12.34", attributes={"colour": "red"})
    b = make_product(category=category, name="Floor Lamp", price="99.00", is_active=False)
    exported = admin_client.post(CHANGELIST, {"action": "export_csv", ACTION_CHECKBOX_NAME: [a.pk, b.pk]})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["sku"] for r in rows] == [a.sku, b.sku]
    # Edit one row, add a new product, import it back.
    rows[0]["price"] = "15.00"
    rows.append({**rows[1], "sku": "NEW-1", "slug": "new-lamp", "name": "New Lamp", "is_active": "1"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    upload = SimpleUploadedFile("products.csv", out.getvalue().encode(), content_type="text/csv")
    response = admin_client.post(f"{CHANGELIST}import/", {"file": upload})
    assert response.status_code == 302
    a.refresh_from_db()
    assert str(a.price.amount) == "15.00" and a.attributes == {"colour": "red"}
    new = Product.objects.get(sku="NEW-1")
    assert (new.name, new.slug, new.is_active, new.category) == ("New Lamp", "new-lamp", True, category)
    assert Stock.objects.filter(product=new).exists()


def test_csv_import_with_a_bad_row_imports_nothing(admin_client):
    make_category("Lamps")
    data = "sku,name,category,price\nA-1,Good,lamps-x,1.00\n"
    upload = SimpleUploadedFile("p.csv", data.encode(), content_type="text/csv")
    response = admin_client.post(f"{CHANGELIST}import/", {"file": upload})
    assert response.status_code == 200 and b"Row 2" in response.content
    assert not Product.objects.exists()


def test_image_upload_in_admin_makes_a_thumbnail(admin_client, media):
    product = make_product()
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 30, 30)).save(buffer, format="PNG")
    upload = SimpleUploadedFile("red.png", buffer.getvalue(), content_type="image/png")
    data = {
        "name_en": product.name, "slug": product.slug, "brand": "Acme", "category": product.category_id,
        "price_0": "10.00", "price_1": "USD", "is_active": "on", "description_en": "", "attributes": "{}",
        "stocks-TOTAL_FORMS": "1", "stocks-INITIAL_FORMS": "1", "stocks-MIN_NUM_FORMS": "0",
        "stocks-MAX_NUM_FORMS": "1", "stocks-0-id": product.stocks.get().pk, "stocks-0-product": product.pk,
        "images-TOTAL_FORMS": "1", "images-INITIAL_FORMS": "0", "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000", "images-0-image": upload, "images-0-alt": "Red", "images-0-position": "0",
    }
    response = admin_client.post(f"{CHANGELIST}{product.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    product.refresh_from_db()
    image = product.images.get()
    assert product.thumbnail_url.endswith("_thumb.jpg")
    with Image.open(image.thumbnail.path) as thumb:
        assert max(thumb.size) == 320


def test_deleting_a_review_in_admin_recomputes_the_rating(admin_client):
    from catalog.services.recommendations import product_purchase_record
    from catalog.services.reviews import review_create
    from tests.catalog.factories import UserFactory

    product = make_product()
    reviews = []
    for i, rating in enumerate([5, 1]):
        user = UserFactory()
        product_purchase_record(user=user, lines=[(product.pk, 1)], reference=f"O-{i}")
        reviews.append(review_create(user=user, product=product, rating=rating))
    response = admin_client.post(
        "/admin/catalog/review/", {"action": "delete_reviews", ACTION_CHECKBOX_NAME: [reviews[1].pk]}
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert (str(product.rating_avg), product.rating_count) == ("5.00", 1)
    admin_client.post(f"/admin/catalog/review/{reviews[0].pk}/delete/", {"post": "yes"})
    product.refresh_from_db()
    assert (str(product.rating_avg), product.rating_count) == ("0.00", 0)


RATES = "/admin/exchange/rate/"


def test_staff_add_a_rate_and_bad_rates_get_form_errors(admin_client, rates):
    from djmoney.contrib.exchange.models import Rate

    Rate.objects.filter(currency="GBP").delete()
    assert admin_client.get(f"{RATES}add/").status_code == 200
    response = admin_client.post(f"{RATES}add/", {"currency": "GBP", "value": "0.8"})
    assert response.status_code == 302
    added = Rate.objects.get(currency="GBP")
    assert added.value == Decimal("0.8") and added.backend_id == Rate.objects.get(currency="EUR").backend_id

    for data, message in [
        ({"currency": "EUR", "value": "0.5"}, b"There is already a rate for EUR"),
        ({"currency": "JPY", "value": "150"}, b"Select a valid choice"),
        ({"currency": "CHF", "value": "-1"}, b"Select a valid choice"),
    ]:
        response = admin_client.post(f"{RATES}add/", data)
        assert response.status_code == 200 and message in response.content, data
    response = admin_client.post(f"{RATES}{added.pk}/change/", {"currency": "GBP", "value": "0"})
    assert response.status_code == 200 and b"greater than or equal to" in response.content
    base = Rate.objects.get(currency="USD")
    response = admin_client.post(f"{RATES}{base.pk}/change/", {"currency": "USD", "value": "2"})
    assert response.status_code == 200 and b"always 1" in response.content
    assert Rate.objects.count() == 3 and Rate.objects.get(currency="GBP").value == Decimal("0.8")
