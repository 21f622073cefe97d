"""Catalogue content in every shop language: admin edit, pages and API in the shopper's language with
English as the fallback, search by the words of either language, caches keyed by language."""

import pytest
from django.db import connection
from django.test import Client

from catalog.demo_translations import product_translations
from catalog.models import OptionValue, Product, ProductOption
from catalog.selectors.filters import ProductQuery
from catalog.selectors.search import product_autocomplete, product_search
from catalog.services.categories import category_update
from catalog.services.products import product_update
from catalog.services.variants import product_type_create, product_variants_create
from tests.catalog.factories import make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def headphones(rates):
    audio = make_category("Audio")
    category_update(category=audio, name="Audio", translations={"name_de": "Tonwiedergabe"})
    product = make_product(category=audio, name="Studio Headphones", description="Closed back, for mixing.")
    product_update(product=product, name_de="Studiokopfhörer", description_de="Geschlossen, zum Abmischen.")
    untranslated = make_product(category=audio, name="Cable Organiser", description="Keeps cables neat.")
    return {"product": Product.objects.get(pk=product.pk), "untranslated": untranslated}


def test_admin_edits_every_language_of_a_product(admin_client, headphones):
    product = headphones["product"]
    url = f"/admin/catalog/product/{product.pk}/change/"
    page = admin_client.get(url)
    form = page.context["adminform"].form
    assert {"name_en", "name_de", "description_en", "description_de"} <= set(form.fields)
    assert "name" not in form.fields
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(
        {
            "name_de": "Monitorkopfhörer", "price_0": "10.00", "price_1": "USD", "is_active": "on",
            "attributes": "{}", "category": product.category_id,
            "stocks-TOTAL_FORMS": "1", "stocks-INITIAL_FORMS": "1", "stocks-MIN_NUM_FORMS": "0",
            "stocks-MAX_NUM_FORMS": "1", "stocks-0-id": product.stocks.get().pk, "stocks-0-product": product.pk,
            "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0", "images-MIN_NUM_FORMS": "0",
            "images-MAX_NUM_FORMS": "1000",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    product.refresh_from_db()
    assert (product.name_en, product.name_de) == ("Studio Headphones", "Monitorkopfhörer")


def test_admin_adds_a_product_with_its_german_name(admin_client, rates):
    category = make_category("Audio")
    page = admin_client.get("/admin/catalog/product/add/")
    assert b'name="name_de"' in page.content
    response = admin_client.post(
        "/admin/catalog/product/add/",
        {
            "sku": "NEW-DE", "slug": "new-de", "name_en": "Speaker", "name_de": "Lautsprecher", "brand": "",
            "category": category.pk, "price_0": "5.00", "price_1": "USD", "is_active": "on",
            "description_en": "", "description_de": "", "attributes": "{}",
            "stocks-TOTAL_FORMS": "0", "stocks-INITIAL_FORMS": "0", "stocks-MIN_NUM_FORMS": "0",
            "stocks-MAX_NUM_FORMS": "1000", "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0",
            "images-MIN_NUM_FORMS": "0", "images-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    product = Product.objects.get(sku="NEW-DE")
    assert (product.name_en, product.name_de) == ("Speaker", "Lautsprecher")
    assert product.variants.count() == 1  # made by the service, with its default variant


def test_admin_edits_category_and_option_translations(admin_client, rates):
    category = make_category("Audio")
    assert b'name="name_de"' in admin_client.get(f"/admin/catalog/category/{category.pk}/change/").content
    product_type_create(name="Apparel", options={"colour": ["Red"]})
    option = ProductOption.objects.get(code="colour")
    page = admin_client.get(f"/admin/catalog/productoption/{option.pk}/change/")
    assert b'name="name_de"' in page.content and b'name="values-0-label_de"' in page.content
    for url in ("/admin/catalog/product/add/", f"/admin/catalog/category/{category.pk}/change/"):
        assert b"googleapis" not in admin_client.get(url).content  # no CDN (the tabbed admin's jQuery UI)


def test_product_page_in_german_with_english_fallback(headphones):
    client = Client()
    url = headphones["product"].get_absolute_url()
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Studiokopfhörer" in german and "Geschlossen, zum Abmischen." in german and "Tonwiedergabe" in german
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Studio Headphones" in english and "Studiokopfhörer" not in english and "Tonwiedergabe" not in english
    # No German text: the English one, not an empty title.
    fallback = client.get(headphones["untranslated"].get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Cable Organiser" in fallback and "Keeps cables neat." in fallback


def test_language_switcher_cookie_picks_the_content_language(headphones, settings):
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    assert "Studiokopfhörer" in client.get(headphones["product"].get_absolute_url()).content.decode()


def test_api_answers_in_the_shoppers_language_with_english_fallback(headphones):
    client = Client()
    slug = headphones["product"].slug
    german = client.get(f"/api/v1/products/{slug}/", HTTP_ACCEPT_LANGUAGE="de").json()
    assert german["name"] == "Studiokopfhörer"
    assert german["description"] == "Geschlossen, zum Abmischen."
    assert german["category"]["name"] == "Tonwiedergabe"
    english = client.get(f"/api/v1/products/{slug}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert (english["name"], english["category"]["name"]) == ("Studio Headphones", "Audio")
    fallback = client.get(f"/api/v1/products/{headphones['untranslated'].slug}/", HTTP_ACCEPT_LANGUAGE="de").json()
    assert fallback["name"] == "Cable Organiser"


def test_cached_listings_and_facets_are_kept_per_language(headphones):
    client = Client()
    for _ in range(2):  # the second round is served from the caches
        english = client.get("/api/v1/products/", {"q": "headphones"}, HTTP_ACCEPT_LANGUAGE="en").json()
        german = client.get("/api/v1/products/", {"q": "headphones"}, HTTP_ACCEPT_LANGUAGE="de").json()
        assert [p["name"] for p in english["results"]] == ["Studio Headphones"]
        assert [p["name"] for p in german["results"]] == ["Studiokopfhörer"]
        assert [c["name"] for c in english["facets"]["categories"]] == ["Audio"]
        assert [c["name"] for c in german["facets"]["categories"]] == ["Tonwiedergabe"]
        tree = client.get("/api/v1/categories/", HTTP_ACCEPT_LANGUAGE="de").json()
        assert "Tonwiedergabe" in str(tree)


@pytest.mark.parametrize("language", ["en", "de"])
def test_search_finds_german_and_english_words_whatever_the_language(headphones, language):
    from django.utils import translation

    with translation.override(language):
        assert [p.pk for p in product_search(ProductQuery(q="Studiokopfhörer")).products] == [headphones["product"].pk]
        assert [p.pk for p in product_search(ProductQuery(q="headphones")).products] == [headphones["product"].pk]
        assert [p.pk for p in product_search(ProductQuery(q="Tonwiedergabe")).products] != []  # category, German
        # Suggestions: the shopper's language and English, shown in the shopper's language.
        shown = "Studiokopfhörer" if language == "de" else "Studio Headphones"
        assert [p.name for p in product_autocomplete(q="Studio Head")] == [shown]
        if language == "de":
            assert [p.name for p in product_autocomplete(q="Studiokopf")] == [shown]


def test_search_ordered_by_name_reads_the_shoppers_language(headphones):
    from django.utils import translation

    with translation.override("de"):
        # "Cable Organiser" (no German) sorts by its English name, before "Studiokopfhörer".
        found = product_search(ProductQuery(category=headphones["product"].category, ordering="name")).products
        assert [p.name for p in found] == ["Cable Organiser", "Studiokopfhörer"]


def test_option_labels_on_the_product_page_follow_the_language(rates):
    product_type = product_type_create(name="Apparel", options={"colour": ["Red", "Blue"]})
    OptionValue.objects.filter(value="Red").update(label_en="Red", label_de="Rot")
    ProductOption.objects.filter(code="colour").update(name_de="Farbe")
    product = make_product(name="Tee")
    product_variants_create(
        product=product, product_type=product_type,
        variants=[{"sku": "TEE-R", "options": {"colour": "Red"}}, {"sku": "TEE-B", "options": {"colour": "Blue"}}],
    )
    from catalog.services.stock import stock_restock

    stock_restock(variant_id=product.variants.get(sku="TEE-R").pk, quantity=3, reason="test")
    german = Client().get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<legend>Farbe</legend>" in german and "<span>Rot</span>" in german
    assert "<span>Blue</span>" in german  # no German label: the value
    assert 'value="Red"' in german  # the key the form sends stays the same
    english = Client().get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<span>Red</span>" in english and "Rot" not in english


def test_services_write_english_whatever_language_is_active(headphones):
    from django.utils import translation

    with translation.override("de"):
        product_update(product=headphones["product"], name="Studio Headphones II")
    product = Product.objects.get(pk=headphones["product"].pk)
    assert (product.name_en, product.name_de) == ("Studio Headphones II", "Studiokopfhörer")


def test_demo_products_get_generated_german():
    german = product_translations(
        brand="Acme", adjective="Wireless", noun="Studio Headphones", colour="red", material="steel",
        tagline="Great value.",
    )
    assert german == {
        "name_de": "Acme Kabellos Studiokopfhörer",
        "description_de": "Studiokopfhörer von Acme in rot, aus Stahl. Preiswert.",
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (the stored full-text vector)")
def test_postgres_vector_holds_both_languages(headphones):
    headphones["product"].refresh_from_db()
    vector = Product.objects.filter(pk=headphones["product"].pk).values_list("search_vector", flat=True).get()
    assert "studiokopfhor" in vector and "headphon" in vector  # German and English stems


def test_csv_round_trip_carries_the_german_columns(headphones):
    from catalog.selectors.csv_export import products_export_rows
    from catalog.services.csv_import import products_import_csv

    rows = list(products_export_rows(Product.objects.filter(pk=headphones["product"].pk)))
    header, row = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert "name_de" in header and "description_de" in header
    assert (row["name"], row["name_de"]) == ("Studio Headphones", "Studiokopfhörer")
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerow({**row, "name_de": "Tonstudio-Kopfhörer"})
    writer.writerow({**row, "sku": "NEW-1", "slug": "new-1", "name": "New", "name_de": "Neu", "description_de": ""})
    products_import_csv(data=out.getvalue())
    assert Product.objects.get(pk=headphones["product"].pk).name_de == "Tonstudio-Kopfhörer"
    new = Product.objects.get(sku="NEW-1")
    assert (new.name_en, new.name_de, new.description_de) == ("New", "Neu", None)
    # A file without the German columns keeps the stored German.
    products_import_csv(data=f"sku,name,category,price\nNEW-1,Newer,{row['category']},1.00\n")
    assert Product.objects.values_list("name_en", "name_de").get(sku="NEW-1") == ("Newer", "Neu")


def test_bulk_seeded_products_have_english_and_generated_german(rates):
    import io

    from django.core.management import call_command
    from django.utils import translation

    with translation.override("de"):  # the active language does not decide which column is English
        call_command("seed_catalog", "--products", "3", stdout=io.StringIO())
    rows = list(Product.objects.filter(sku__startswith="SEED-").values_list("name_en", "name_de", "description_de"))
    assert len(rows) == 3
    assert all(en and de and " von " in desc for en, de, desc in rows)  # German words, not a copy


def test_original_columns_hold_english_whatever_language_saves(rates):
    """Apps that join products without modeltranslation's manager (staff reports) read English."""
    from django.utils import translation

    from catalog.models import Stock
    from catalog.services.products import product_create

    with translation.override("de"):
        category = make_category("Audio")
        category_update(category=category, name="Audio", translations={"name_de": "Tonwiedergabe"})
        product = product_create(sku="RAW-1", name="Kettle", category=category, price="1.00",
                                 translations={"name_de": "Kessel"})
        product_update(product=product, name_de="Wasserkessel")
    assert list(Stock.objects.values_list("product__name", "product__category__name")) == [("Kettle", "Audio")]
