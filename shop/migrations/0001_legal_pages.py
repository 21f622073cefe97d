"""The footer's pages (contact, shipping and returns, privacy, terms, legal notice) as flat pages.

Staff edit them in admin (Flat pages); this migration only creates them once, with a
sensible first text, so the footer never links to a missing page.
"""

from django.db import migrations

PAGES = {
    "/contact/": (
        "Contact us",
        "<p>We answer every message within one working day.</p>"
        "<p>E-mail: <a href=\"mailto:hello@ferngrove.example\">hello@ferngrove.example</a><br>"
        "Phone: +49 30 1234 5678 (Monday to Friday, 9:00 to 17:00 CET)</p>"
        "<p>Ferngrove GmbH, Hauptstrasse 1, 10115 Berlin, Germany</p>",
    ),
    "/shipping-returns/": (
        "Shipping and returns",
        "<h2>Shipping</h2><p>Orders placed before 14:00 on a working day leave our warehouse the same day. "
        "Standard delivery takes 2 to 4 working days; you get a tracking e-mail when your parcel ships.</p>"
        "<h2>Returns</h2><p>Changed your mind? Return any item within 30 days of delivery, unused and in its "
        "packaging. Start a return from your order page; we refund to the way you paid within 5 working days "
        "of receiving the item.</p>",
    ),
    "/privacy/": (
        "Privacy policy",
        "<p>We collect only what we need to deliver your order and run your account: your name, e-mail "
        "address, delivery addresses and order history. Card numbers go straight to our payment provider; "
        "we never see or store them.</p><p>You can download everything we hold about you, or erase your "
        "account, from your account page at any time.</p>",
    ),
    "/terms/": (
        "Terms and conditions",
        "<p>A contract is made when we confirm your order by e-mail. Prices include VAT where applicable. "
        "Items stay our property until paid in full. You have a statutory right to withdraw within 14 days; "
        "our returns promise gives you 30.</p>",
    ),
    "/legal-notice/": (
        "Legal notice",
        "<p>Ferngrove GmbH<br>Hauptstrasse 1, 10115 Berlin, Germany<br>Managing director: Ann Example<br>"
        "Commercial register: Amtsgericht Berlin HRB 000000<br>VAT ID: DE000000000</p>",
    ),
}


def pages_create(apps, schema_editor):
    Site = apps.get_model("sites", "Site")
    FlatPage = apps.get_model("flatpages", "FlatPage")
    site, _ = Site.objects.get_or_create(pk=1, defaults={"domain": "localhost", "name": "Ferngrove"})
    for url, (title, content) in PAGES.items():
        page, created = FlatPage.objects.get_or_create(url=url, defaults={"title": title, "content": content})
        page.sites.add(site)


class Migration(migrations.Migration):
    dependencies = [
        ("sites", "0002_alter_domain_unique"),
        ("flatpages", "0001_initial"),
    ]

    operations = [migrations.RunPython(pages_create, migrations.RunPython.noop)]
