"""German for the demo catalogue: words the generators combine, so no product is translated by hand.

catalog.demo and catalog.demo_variants build each German name and description
from the same draws as the English one; `translations_load` fills in the
categories and options (also of a catalogue loaded before translations existed).
"""

from django.db import transaction

from catalog.models import Category, OptionValue, ProductOption

CATEGORIES_DE = {
    "Electronics": "Elektronik", "Audio": "Audio", "Headphones": "Kopfhörer", "Speakers": "Lautsprecher",
    "Computers": "Computer", "Laptops": "Laptops", "Keyboards": "Tastaturen", "Phones": "Telefone",
    "Smartphones": "Smartphones", "Phone Cases": "Handyhüllen", "Home & Garden": "Haus & Garten",
    "Kitchen": "Küche", "Cookware": "Kochgeschirr", "Coffee": "Kaffee", "Garden": "Garten",
    "Tools": "Werkzeug", "Plants": "Pflanzen", "Fashion": "Mode", "Men": "Herren", "Shirts": "Hemden",
    "Shoes": "Schuhe", "Women": "Damen", "Dresses": "Kleider", "Bags": "Taschen", "Sports": "Sport",
    "Outdoor": "Outdoor", "Tents": "Zelte", "Backpacks": "Rucksäcke", "Fitness": "Fitness", "Yoga": "Yoga",
    "Weights": "Gewichte",
}
NOUNS_DE = {
    "Over-Ear Headphones": "Over-Ear-Kopfhörer", "Studio Headphones": "Studiokopfhörer",
    "Noise-Cancelling Headphones": "Kopfhörer mit Geräuschunterdrückung", "Bluetooth Speaker": "Bluetooth-Lautsprecher",
    "Bookshelf Speaker": "Regallautsprecher", "Party Speaker": "Partylautsprecher", 'Laptop 14"': 'Laptop 14"',
    'Ultrabook 13"': 'Ultrabook 13"', 'Workstation Laptop 16"': 'Workstation-Laptop 16"',
    "Mechanical Keyboard": "Mechanische Tastatur", "Low-Profile Keyboard": "Flache Tastatur",
    "Wireless Keyboard": "Kabellose Tastatur", "Smartphone": "Smartphone", 'Phone 6.1"': 'Handy 6,1"',
    "Phone Mini": "Handy Mini", "Phone Case": "Handyhülle", "Folio Case": "Klapphülle", "Bumper Case": "Bumper-Hülle",
    "Stock Pot": "Suppentopf", "Casserole": "Schmortopf", "Saucepan": "Stieltopf", "Coffee Mug": "Kaffeebecher",
    "Travel Mug": "Thermobecher", "Espresso Cup": "Espressotasse", "Claw Hammer": "Klauenhammer",
    "Mallet": "Holzhammer", "Framing Hammer": "Zimmermannshammer", "Potted Fern": "Farn im Topf",
    "Snake Plant": "Bogenhanf", "Fiddle Leaf Fig": "Geigenfeige", "T-Shirt": "T-Shirt",
    "Crew Neck Tee": "Rundhals-Shirt", "Pocket Tee": "Shirt mit Brusttasche", "Sneakers": "Turnschuhe",
    "Running Shoes": "Laufschuhe", "Canvas Shoes": "Segeltuchschuhe", "Summer Dress": "Sommerkleid",
    "Wrap Dress": "Wickelkleid", "Shift Dress": "Etuikleid", "Tote Bag": "Einkaufstasche",
    "Shoulder Bag": "Umhängetasche", "Market Bag": "Markttasche", "2-Person Tent": "2-Personen-Zelt",
    "Dome Tent": "Kuppelzelt", "Trekking Tent": "Trekkingzelt", "Daypack 20L": "Tagesrucksack 20 l",
    "Hiking Backpack 35L": "Wanderrucksack 35 l", "Commuter Backpack": "Pendlerrucksack", "Yoga Mat": "Yogamatte",
    "Travel Yoga Mat": "Reise-Yogamatte", "Cork Yoga Mat": "Kork-Yogamatte", "Dumbbell Set": "Hantelset",
    "Hex Dumbbell": "Sechskant-Hantel", "Adjustable Dumbbell": "Verstellbare Hantel",
}
ADJECTIVES_DE = {
    "Classic": "Klassik", "Compact": "Kompakt", "Deluxe": "Deluxe", "Eco": "Öko", "Ergonomic": "Ergo",
    "Lightweight": "Leicht", "Premium": "Premium", "Pro": "Pro", "Rugged": "Robust", "Smart": "Smart",
    "Ultra": "Ultra", "Vintage": "Vintage", "Wireless": "Kabellos", "Modern": "Modern", "Portable": "Mobil",
}
COLOURS_DE = {
    "red": "rot", "blue": "blau", "green": "grün", "black": "schwarz", "white": "weiß", "yellow": "gelb",
    "purple": "lila", "orange": "orange",
}
MATERIALS_DE = {
    "cotton": "Baumwolle", "steel": "Stahl", "aluminium": "Aluminium", "bamboo": "Bambus", "leather": "Leder",
    "plastic": "Kunststoff", "wool": "Wolle",
}
TAGLINES_DE = {
    "Built to last.": "Gebaut für die Ewigkeit.", "Loved by our customers.": "Von unserer Kundschaft geliebt.",
    "Great value.": "Preiswert.", "New this season.": "Neu in dieser Saison.",
}
OPTIONS_DE = {"size": "Größe", "colour": "Farbe"}
OPTION_VALUES_DE = {("colour", "Red"): "Rot", ("colour", "Blue"): "Blau", ("colour", "Black"): "Schwarz"}
APPAREL_DE = {
    "DEMO-TEE": ("T-Shirt aus Bio-Baumwolle", "Ein weiches T-Shirt für jeden Tag, aus Bio-Baumwolle."),
    "DEMO-HOODIE": ("Fleece-Kapuzenpullover", "Ein warmer Kapuzenpullover mit Kängurutasche."),
    "DEMO-RUNNER": ("Trail-Laufshirt", "Ein leichtes, schnell trocknendes Shirt für lange Läufe."),
}


def product_translations(*, brand: str, adjective: str, noun: str, colour: str, material: str, tagline: str) -> dict:
    """The German name and description of a generated demo product (its English words' German)."""
    noun_de = NOUNS_DE.get(noun, noun)
    return {
        "name_de": f"{brand} {ADJECTIVES_DE.get(adjective, adjective)} {noun_de}",
        "description_de": (
            f"{noun_de} von {brand} in {COLOURS_DE.get(colour, colour)}, aus {MATERIALS_DE.get(material, material)}. "
            f"{TAGLINES_DE.get(tagline, tagline)}"
        ),
    }


def translations_load(*, stdout) -> None:
    """German names for the demo categories, options and option values (idempotent)."""
    with transaction.atomic():
        categories = 0
        for category in Category.objects.filter(name_en__in=list(CATEGORIES_DE), name_de__isnull=True):
            Category.objects.filter(pk=category.pk).update(name_de=CATEGORIES_DE[category.name_en])
            categories += 1
        for code, name in OPTIONS_DE.items():
            ProductOption.objects.filter(code=code, name_de__isnull=True).update(name_de=name)
        for (code, value), label in OPTION_VALUES_DE.items():
            OptionValue.objects.filter(option__code=code, value=value, label_de__isnull=True).update(label_de=label)
    stdout.write(f"   translations: {categories} categories named in German")
