"""Product shots for the demo catalogue, drawn with Pillow at demo time (nothing is downloaded).

Each kind of product (headphones, a laptop, a shirt, a tent...) has a drawing of its
shape on a soft studio background with a floor shadow, in the product's colour. A product
gets several views for the gallery: the front, a turned and closer view, and a detail crop.
"""

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageOps

SIZE = 800
Colour = tuple[int, int, int]
Drawing = Callable[[ImageDraw.ImageDraw, Colour, Colour], None]

# Nouns a leaf category's products are called by (the category name alone reads like a
# wireframe: "Weight 312").
NOUNS = {
    "Headphones": ["Over-Ear Headphones", "Studio Headphones", "Noise-Cancelling Headphones"],
    "Speakers": ["Bluetooth Speaker", "Bookshelf Speaker", "Party Speaker"],
    "Laptops": ["Laptop 14\"", "Ultrabook 13\"", "Workstation Laptop 16\""],
    "Keyboards": ["Mechanical Keyboard", "Low-Profile Keyboard", "Wireless Keyboard"],
    "Smartphones": ["Smartphone", "Phone 6.1\"", "Phone Mini"],
    "Phone Cases": ["Phone Case", "Folio Case", "Bumper Case"],
    "Cookware": ["Stock Pot", "Casserole", "Saucepan"],
    "Coffee": ["Coffee Mug", "Travel Mug", "Espresso Cup"],
    "Tools": ["Claw Hammer", "Mallet", "Framing Hammer"],
    "Plants": ["Potted Fern", "Snake Plant", "Fiddle Leaf Fig"],
    "Shirts": ["T-Shirt", "Crew Neck Tee", "Pocket Tee"],
    "Shoes": ["Sneakers", "Running Shoes", "Canvas Shoes"],
    "Dresses": ["Summer Dress", "Wrap Dress", "Shift Dress"],
    "Bags": ["Tote Bag", "Shoulder Bag", "Market Bag"],
    "Tents": ["2-Person Tent", "Dome Tent", "Trekking Tent"],
    "Backpacks": ["Daypack 20L", "Hiking Backpack 35L", "Commuter Backpack"],
    "Yoga": ["Yoga Mat", "Travel Yoga Mat", "Cork Yoga Mat"],
    "Weights": ["Dumbbell Set", "Hex Dumbbell", "Adjustable Dumbbell"],
}


def product_noun(category_name: str, rng: random.Random) -> str:
    """What a product of this leaf category is called."""
    return rng.choice(NOUNS.get(category_name, [category_name.rstrip("s")]))


def _shade(colour: Colour, delta: int) -> Colour:
    return tuple(max(0, min(255, c + delta)) for c in colour)


def _headphones(d, c, dark):
    d.arc([220, 140, 580, 520], 180, 360, fill=dark, width=34)
    for x in (190, 530):
        d.rounded_rectangle([x, 320, x + 80, 520], radius=36, fill=c, outline=dark, width=6)


def _speaker(d, c, dark):
    d.rounded_rectangle([260, 160, 540, 600], radius=40, fill=c, outline=dark, width=6)
    d.ellipse([320, 220, 480, 380], fill=dark)
    d.ellipse([350, 420, 450, 520], fill=dark)


def _laptop(d, c, dark):
    d.rounded_rectangle([200, 180, 600, 460], radius=16, fill=dark)
    d.rectangle([222, 200, 578, 440], fill=_shade(c, 60))
    d.polygon([(150, 470), (650, 470), (690, 540), (110, 540)], fill=c, outline=dark)


def _keyboard(d, c, dark):
    d.rounded_rectangle([110, 300, 690, 520], radius=20, fill=c, outline=dark, width=6)
    for row in range(4):
        for col in range(12):
            x, y = 135 + col * 46, 322 + row * 48
            d.rounded_rectangle([x, y, x + 38, y + 38], radius=6, fill=_shade(c, 50))


def _smartphone(d, c, dark):
    d.rounded_rectangle([290, 130, 510, 620], radius=40, fill=dark)
    d.rounded_rectangle([306, 160, 494, 590], radius=26, fill=_shade(c, 70))
    d.ellipse([388, 140, 412, 152], fill=(20, 20, 20))


def _phone_case(d, c, dark):
    d.rounded_rectangle([290, 130, 510, 620], radius=46, fill=c, outline=dark, width=8)
    d.rounded_rectangle([320, 160, 400, 260], radius=20, fill=dark)


def _cookware(d, c, dark):
    d.rounded_rectangle([220, 300, 580, 560], radius=30, fill=c, outline=dark, width=6)
    d.rectangle([140, 330, 220, 360], fill=dark)
    d.rectangle([580, 330, 660, 360], fill=dark)
    d.ellipse([210, 260, 590, 330], fill=_shade(c, 30), outline=dark, width=6)
    d.ellipse([370, 235, 430, 270], fill=dark)


def _coffee(d, c, dark):
    d.rounded_rectangle([260, 260, 500, 580], radius=30, fill=c, outline=dark, width=6)
    d.arc([450, 330, 600, 500], 270, 90, fill=dark, width=28)
    for x in (320, 380, 440):
        d.arc([x - 20, 150, x + 20, 250], 90, 270, fill=(180, 180, 180), width=6)


def _tools(d, c, dark):
    d.rounded_rectangle([380, 260, 420, 640], radius=16, fill=(150, 100, 60))
    d.rounded_rectangle([250, 180, 550, 270], radius=14, fill=c, outline=dark, width=6)


def _plants(d, c, dark):
    for angle in range(-60, 61, 20):
        x = 400 + angle * 3
        d.ellipse([x - 40, 150 + abs(angle), x + 40, 420], fill=(46, 125, 50))
    d.polygon([(280, 420), (520, 420), (490, 620), (310, 620)], fill=c, outline=dark)


def _shirts(d, c, dark):
    d.polygon([(300, 170), (500, 170), (640, 260), (590, 340), (530, 300), (530, 620),
               (270, 620), (270, 300), (210, 340), (160, 260)], fill=c, outline=dark)
    d.arc([350, 140, 450, 220], 0, 180, fill=dark, width=8)


def _shoes(d, c, dark):
    d.polygon([(150, 470), (220, 330), (380, 330), (470, 400), (640, 440), (660, 520), (150, 520)],
              fill=c, outline=dark)
    d.rectangle([150, 520, 660, 550], fill=(240, 240, 240), outline=dark)
    for x in (260, 300, 340):
        d.line([x, 350, x + 30, 400], fill=(250, 250, 250), width=6)


def _dresses(d, c, dark):
    d.polygon([(340, 150), (460, 150), (480, 330), (600, 620), (200, 620), (320, 330)], fill=c, outline=dark)
    d.rectangle([320, 320, 480, 345], fill=dark)


def _bags(d, c, dark):
    d.arc([290, 150, 510, 380], 180, 360, fill=dark, width=18)
    d.polygon([(220, 280), (580, 280), (620, 620), (180, 620)], fill=c, outline=dark)


def _tents(d, c, dark):
    d.polygon([(400, 170), (660, 580), (140, 580)], fill=c, outline=dark)
    d.polygon([(400, 320), (470, 580), (330, 580)], fill=dark)


def _backpacks(d, c, dark):
    d.rounded_rectangle([250, 170, 550, 620], radius=70, fill=c, outline=dark, width=6)
    d.rounded_rectangle([290, 420, 510, 590], radius=26, fill=_shade(c, -30), outline=dark, width=4)
    d.arc([340, 120, 460, 220], 180, 360, fill=dark, width=14)


def _yoga(d, c, dark):
    d.rounded_rectangle([180, 330, 620, 510], radius=90, fill=c, outline=dark, width=6)
    d.ellipse([540, 330, 640, 510], fill=_shade(c, 40), outline=dark, width=6)
    d.arc([560, 370, 620, 470], 0, 300, fill=dark, width=4)


def _weights(d, c, dark):
    d.rectangle([250, 390, 550, 430], fill=(160, 160, 170))
    for x in (180, 550):
        d.rounded_rectangle([x, 300, x + 70, 520], radius=12, fill=c, outline=dark, width=6)


def _generic(d, c, dark):
    d.rounded_rectangle([240, 200, 560, 580], radius=40, fill=c, outline=dark, width=6)


DRAWINGS: dict[str, Drawing] = {
    "Headphones": _headphones, "Speakers": _speaker, "Laptops": _laptop, "Keyboards": _keyboard,
    "Smartphones": _smartphone, "Phone Cases": _phone_case, "Cookware": _cookware, "Coffee": _coffee,
    "Tools": _tools, "Plants": _plants, "Shirts": _shirts, "Shoes": _shoes, "Dresses": _dresses,
    "Bags": _bags, "Tents": _tents, "Backpacks": _backpacks, "Yoga": _yoga, "Weights": _weights,
}


def _studio(rng: random.Random) -> Image.Image:
    """A soft vertical gradient with a floor shadow: the look of a product photographed on a table."""
    top = (rng.randint(236, 248), rng.randint(236, 248), rng.randint(236, 250))
    bottom = _shade(top, -28)
    img = ImageOps.colorize(Image.linear_gradient("L").resize((SIZE, SIZE)), top, bottom)
    # The shadow is blurred small and scaled up: the same soft edge for a fraction of the work.
    shadow = Image.new("L", (SIZE // 4, SIZE // 4), 0)
    ImageDraw.Draw(shadow).ellipse([42, 150, 158, 170], fill=90)
    img.paste((60, 60, 70), mask=shadow.filter(ImageFilter.GaussianBlur(6)).resize((SIZE, SIZE), Image.BILINEAR))
    return img


def _view(kind: str, colour: Colour, rng: random.Random, view: int) -> Image.Image:
    img = _studio(rng)
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    DRAWINGS.get(kind, _generic)(ImageDraw.Draw(layer), colour, _shade(colour, -70))
    if view == 1:  # turned a little and closer
        layer = layer.rotate(rng.choice([-12, -8, 8, 12]), resample=Image.BICUBIC, center=(400, 420))
        layer = layer.resize((int(SIZE * 1.15),) * 2, Image.BICUBIC).crop((60, 40, 60 + SIZE, 40 + SIZE))
    img.paste(layer, (0, 0), layer)
    if view == 2:  # a detail of the material
        img = img.crop((200, 200, 600, 600)).resize((SIZE, SIZE), Image.BICUBIC)
    return img


def product_shots(kind: str, colour: Colour, seed: float, views: int = 3) -> list[bytes]:
    """`views` JPEG product shots of a product of this kind and colour (the same seed draws the same)."""
    rng = random.Random(seed)
    shots = []
    for view in range(views):
        out = io.BytesIO()
        _view(kind, colour, rng, view).save(out, format="JPEG", quality=78)
        shots.append(out.getvalue())
    return shots
