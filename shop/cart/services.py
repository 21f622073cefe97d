"""Writes to carts: add, change, remove, clear, merge on login.

A signed-in shopper's cart is in the database (Cart/CartLine); a guest's is
in the session, as {"<product id>": {"quantity": n, "price": "12.50",
"currency": "USD"}} for a product's default variant and {"<product id>:<variant
id>": ...} for its other variants, where the price is the product's price when
it was added (to warn about price changes). Both go through the same functions via
a CartOwner, so pages, the API and the login merge share one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from catalog.exceptions import OutOfStock, VariantInvalid, VariantRequired
from catalog.models import ProductVariant
from catalog.selectors.products import products_by_ids, products_for_lines
from catalog.selectors.stock import variants_available
from catalog.selectors.variants import default_variant_ids, variants_with_product
from shop.cart.exceptions import CartChanged, InvalidQuantity, ProductUnavailable
from shop.cart.models import Cart, CartLine
from shop.core.exceptions import ShopError
from shop.pricing.exceptions import VoucherInvalid, VoucherMinSpend
from shop.pricing.models import DiscountKind
from shop.pricing.selectors import voucher_get_usable

MAX_LINE_QUANTITY = 99
SESSION_CART_KEY = "cart"
SESSION_VOUCHER_KEY = "cart_voucher"  # a guest's voucher code, beside the guest's lines
# Ids from users are bounded to what a 64-bit key column holds: a bigger number is
# no row at all, and must not reach the database (SQLite raises OverflowError).
DB_ID_MAX = 2**63 - 1


def id_in_range(value) -> bool:
    """Whether `value` is an int that can be a row id (1..DB_ID_MAX)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= DB_ID_MAX


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: a signed-in user's (database) or a guest's (session)."""

    user: Any = None
    session: Any = None

    @property
    def is_guest(self) -> bool:
        return self.user is None


def cart_owner_for_request(request) -> CartOwner:
    """The cart of whoever makes the request."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return CartOwner(user=user)
    return CartOwner(session=request.session)


def quantity_validate(quantity) -> int:
    """A whole number from 1 to MAX_LINE_QUANTITY, else InvalidQuantity (400, field quantity)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity()
    if quantity < 1 or quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            _("Enter a whole number of items between 1 and %(max)d.") % {"max": MAX_LINE_QUANTITY}
        )
    return quantity


def _product_for_cart(product_id, lookup: LinesLookup | None = None, found=None):
    if isinstance(product_id, bool) or not isinstance(product_id, int):
        raise ProductUnavailable(_("Choose a product."))
    if not id_in_range(product_id):
        raise ProductUnavailable()
    product = found or (lookup.products if lookup else products_for_lines([product_id])).get(product_id)
    if product is None or not product.is_active:
        raise ProductUnavailable()
    return product


@dataclass(frozen=True)
class LineTarget:
    """What a cart line holds: a variant of an active product."""

    product: Any
    variant_id: int
    is_default: bool

    @property
    def session_key(self) -> str:
        return session_key(self.product.id, None if self.is_default else self.variant_id)


def session_key(product_id: int, variant_id: int | None) -> str:
    """A guest line's key: the product id for its default variant, "<product>:<variant>" otherwise."""
    return str(product_id) if variant_id is None else f"{product_id}:{variant_id}"


@dataclass(frozen=True)
class LinesLookup:
    """What `line_target` reads, loaded at once for many lines (`lines_lookup`): no query per line."""

    products: dict  # product id -> Product (products_by_ids)
    variants: dict  # variant id -> (product id, is_default)
    variants_of: dict  # product id -> [(variant id, is_default)], up to two


def lines_lookup(items) -> LinesLookup:
    """Three queries for the (product id, variant id, quantity) triples' products and variants."""
    variant_ids = [v for _p, v, _q in items if id_in_range(v)]
    variants = {
        pk: (product_id, is_default)
        for pk, product_id, is_default in ProductVariant.objects.filter(pk__in=variant_ids).values_list(
            "pk", "product_id", "is_default"
        )
    } if variant_ids else {}
    bare = {p for p, v, _q in items if v is None and id_in_range(p)}
    variants_of: dict[int, list] = {}
    if bare:
        rows = ProductVariant.objects.filter(product_id__in=bare).order_by("pk")
        for product_id, pk, is_default in rows.values_list("product_id", "pk", "is_default"):
            variants_of.setdefault(product_id, []).append((pk, is_default))
    product_ids = bare | {p for p, _v, _q in items if id_in_range(p)} | {row[0] for row in variants.values()}
    return LinesLookup(
        products=products_by_ids(product_ids) if product_ids else {},
        variants=variants,
        variants_of={product_id: found[:2] for product_id, found in variants_of.items()},
    )


def line_target(*, product_id=None, variant_id=None, lookup: LinesLookup | None = None) -> LineTarget:
    """The variant a request names: `variant` (of `product`, if given too), or a single-variant product's.

    A product with several variants and no `variant` is VariantRequired; a
    variant of another product VariantInvalid (both field "variant").
    `lookup`: the rows read at once for many lines (else they are queried here).
    """
    if variant_id is None:
        if lookup is not None:
            product = _product_for_cart(product_id, lookup)
            variants = lookup.variants_of.get(product.id, [])
        else:  # the variants with their product in one query (a second tells a product without any)
            rows = variants_with_product(product_id) if id_in_range(product_id) else []
            product = _product_for_cart(product_id, found=rows[0].product if rows else None)
            variants = [(row.pk, row.is_default) for row in rows]
        if len(variants) != 1:
            raise VariantRequired(field="variant")
        return LineTarget(product=product, variant_id=variants[0][0], is_default=variants[0][1])
    if isinstance(variant_id, bool) or not id_in_range(variant_id):
        raise ProductUnavailable(_("Choose a variant."), field="variant")
    if lookup is not None:
        row = lookup.variants.get(variant_id)
    else:
        row = ProductVariant.objects.filter(pk=variant_id).values_list("product_id", "is_default").first()
    if row is None:
        raise ProductUnavailable(_("Choose a variant."), field="variant")
    if product_id is not None and product_id != row[0]:
        raise VariantInvalid(field="variant")
    return LineTarget(product=_product_for_cart(row[0], lookup), variant_id=variant_id, is_default=row[1])


def lines_resolve(items) -> list[tuple[None, int, int, int, None]]:
    """Lines given in a request body (a guest's API checkout), checked as adding them to a cart checks them.

    `items`: (product id or None, variant id or None, quantity) triples. Each goes
    through `quantity_validate` and `line_target` (unknown or inactive product or
    variant, a product with several variants and no `variant`, a variant of another
    product); the same variant twice adds up, as adding it to a cart again does.
    The first bad one raises its error with the field named `lines[i].<field>`.
    Returns raw lines as `shop.cart.selectors.cart_raw_lines` does, no price seen.
    Stock is not checked here: the checkout reserves it (409 out_of_stock).
    """
    items = list(items)
    lookup = lines_lookup(items)  # a few queries for all the lines, not a few per line
    quantities: dict[int, int] = {}
    products: dict[int, int] = {}
    for index, (product_id, variant_id, quantity) in enumerate(items):
        try:
            quantity_validate(quantity)
            target = line_target(product_id=product_id, variant_id=variant_id, lookup=lookup)
            quantity_validate(quantities.get(target.variant_id, 0) + quantity)
        except ShopError as exc:
            default = "variant" if variant_id is not None else "product"
            exc.field = f"lines[{index}].{exc.field if exc.field in ('quantity', 'variant') else default}"
            raise
        quantities[target.variant_id] = quantities.get(target.variant_id, 0) + quantity
        products[target.variant_id] = target.product.id
    return [(None, products[variant_id], variant_id, quantity, None) for variant_id, quantity in quantities.items()]


def _check_stock(target: LineTarget, quantity: int) -> None:
    available = variants_available([target.variant_id]).get(target.variant_id, 0)
    if quantity > available:
        raise OutOfStock(
            _("Only %(available)d of “%(name)s” in stock.") % {"available": available, "name": target.product.name},
            product_id=target.product.id,
            variant_id=target.variant_id,
            requested=quantity,
            available=available,
        )


def session_lines(session) -> dict[str, dict]:
    lines = session.get(SESSION_CART_KEY)
    return lines if isinstance(lines, dict) else {}


def _session_save(session, lines: dict[str, dict]) -> None:
    session[SESSION_CART_KEY] = lines
    session.modified = True


def _locked_cart(user) -> Cart:
    """The user's cart row, locked: line changes of one cart are serialized by it."""
    cart, _created = Cart.objects.select_for_update().get_or_create(user=user)
    return cart


def _set_quantity(*, owner: CartOwner, target: LineTarget, quantity: int, add: bool) -> int:
    product = target.product
    if owner.is_guest:
        lines = session_lines(owner.session)
        key = target.session_key
        current = lines.get(key, {}).get("quantity", 0) if add else 0
        new = current + quantity
        if new > MAX_LINE_QUANTITY:
            quantity_validate(new)
        _check_stock(target, new)
        lines[key] = {
            "quantity": new,
            "price": str(product.price.amount),
            "currency": product.price.currency.code,
        }
        _session_save(owner.session, lines)
        return new
    with transaction.atomic():
        cart = _locked_cart(owner.user)
        line = CartLine.objects.filter(cart=cart, variant_id=target.variant_id).first()
        new = (line.quantity if (line and add) else 0) + quantity
        if new > MAX_LINE_QUANTITY:
            quantity_validate(new)
        _check_stock(target, new)
        if line is None:
            CartLine.objects.create(
                cart=cart, product_id=product.id, variant_id=target.variant_id, quantity=new, price_seen=product.price
            )
        else:
            line.quantity = new
            line.price_seen = product.price
            line.save(update_fields=["quantity", "price_seen_currency", "price_seen", "updated_at"])
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())
        return new


def cart_line_add(*, owner: CartOwner, quantity: int, product_id: int | None = None, variant_id=None) -> int:
    """Add `quantity` of a variant (or of a single-variant product); returns the line's new quantity.

    Refuses an inactive product (400), a bad quantity (400), a product with
    several variants and none chosen (400 variant_required), a variant of
    another product (400 variant_invalid) and more than is in stock (409
    out_of_stock). Takes the cart row lock.
    """
    quantity_validate(quantity)
    target = line_target(product_id=product_id, variant_id=variant_id)
    return _set_quantity(owner=owner, target=target, quantity=quantity, add=True)


def cart_line_update(*, owner: CartOwner, quantity: int, product_id: int | None = None, variant_id=None) -> int:
    """Set a line's quantity (1..MAX, at most the stock); the line must exist."""
    quantity_validate(quantity)
    target = line_target(product_id=product_id, variant_id=variant_id)
    if owner.is_guest:
        if target.session_key not in session_lines(owner.session):
            raise ProductUnavailable(_("This product is not in your cart."))
    elif not CartLine.objects.filter(cart__user=owner.user, variant_id=target.variant_id).exists():
        raise ProductUnavailable(_("This product is not in your cart."))
    return _set_quantity(owner=owner, target=target, quantity=quantity, add=False)


def _session_keys_of(lines: dict, product_id: int, variant_id: int | None) -> list[str]:
    """The guest lines of a product (all its variants), or of one variant of it."""
    if variant_id is not None:
        return [k for k in lines if k == f"{product_id}:{variant_id}"]
    return [k for k in lines if k == str(product_id) or k.startswith(f"{product_id}:")]


def cart_line_remove(*, owner: CartOwner, product_id: int, variant_id: int | None = None) -> None:
    """Remove a product's lines from the cart, or only one variant's (nothing happens if not there)."""
    if not id_in_range(product_id) or (variant_id is not None and not id_in_range(variant_id)):
        return
    if owner.is_guest:
        lines = session_lines(owner.session)
        keys = _session_keys_of(lines, product_id, variant_id)
        if variant_id is not None and not keys:
            # The default variant's line is keyed by the product alone.
            default = ProductVariant.objects.filter(pk=variant_id, product_id=product_id, is_default=True).exists()
            keys = [str(product_id)] if default and str(product_id) in lines else []
        for key in keys:
            lines.pop(key, None)
        if keys:
            _session_save(owner.session, lines)
        return
    with transaction.atomic():
        qs = CartLine.objects.filter(cart__user=owner.user, product_id=product_id)
        if variant_id is not None:
            qs = qs.filter(variant_id=variant_id)
        qs.delete()


def cart_clear(*, owner: CartOwner, product_ids: list[int] | None = None) -> None:
    """Empty the cart, or remove only `product_ids` (what an order just bought)."""
    if owner.is_guest:
        lines = session_lines(owner.session)
        if product_ids is None:
            lines = {}
        else:
            for product_id in product_ids:
                for key in _session_keys_of(lines, product_id, None):
                    lines.pop(key, None)
        _session_save(owner.session, lines)
        return
    with transaction.atomic(savepoint=False):
        qs = CartLine.objects.filter(cart__user=owner.user)
        if product_ids is not None:
            qs = qs.filter(product_id__in=[pid for pid in product_ids if id_in_range(pid)])
        qs.delete()


def cart_lines_take(*, user, lines: list[tuple[int, int]]) -> None:
    """Take exactly these (variant id, quantity) lines out of the user's cart, for an order.

    Call in the transaction that creates the order. Two checkouts of the same
    cart at once (a double submit with two keys, two windows) both read the
    lines, but only the first deletes them: the second waits on their row
    locks, finds them gone and gets CartChanged, rolling its order back. So
    one cart never becomes two orders, and nor does a quantity changed
    meanwhile go unnoticed.
    """
    if not lines:
        return
    wanted = Q()
    for variant_id, quantity in lines:
        wanted |= Q(variant_id=variant_id, quantity=quantity)
    with transaction.atomic(savepoint=False):
        deleted, _detail = CartLine.objects.filter(wanted, cart__user=user).delete()
        if deleted != len(lines):
            raise CartChanged()


def cart_lines_put_back(*, user=None, lines: list[tuple[int, int, int, Money]], session=None) -> None:
    """Return (product id, variant id, quantity, price seen) lines taken for an order that did not go through
    (to a guest's `session` cart when there is no user).

    A line the shopper has added again meanwhile is left as it is now.
    """
    if not lines:
        return
    if user is None:
        guest_lines = session_lines(session)
        present = {session_key_parse(key) for key in guest_lines}
        for product_id, variant_id, quantity, seen in lines:
            if (product_id, variant_id) in present or (product_id, None) in present:
                continue
            data = {"quantity": quantity}
            if seen is not None:
                data.update(price=str(seen.amount), currency=seen.currency.code)
            guest_lines[session_key(product_id, variant_id)] = data
        _session_save(session, guest_lines)
        return
    with transaction.atomic():
        cart = _locked_cart(user)
        present = set(CartLine.objects.filter(cart=cart).values_list("variant_id", flat=True))
        CartLine.objects.bulk_create(
            [
                CartLine(cart=cart, product_id=product_id, variant_id=variant_id, quantity=quantity, price_seen=seen)
                for product_id, variant_id, quantity, seen in lines
                if variant_id not in present
            ]
        )


def cart_merge(*, request, user) -> list[str]:
    """Move the guest cart of the session into the user's cart after login.

    Quantities are added and capped at the stock (and the per-line maximum);
    products that went away are dropped. The shopper is told each change
    through django messages; the notes are also returned. Takes the cart lock.
    """
    session = request.session
    guest_lines = session_lines(session)
    if not guest_lines:
        return []
    wanted = _guest_lines_by_variant(guest_lines)
    notes: list[str] = []
    with transaction.atomic():
        cart = _locked_cart(user)
        existing = {line.variant_id: line for line in CartLine.objects.filter(cart=cart)}
        products = products_by_ids({pid for pid, _vid in wanted})
        available = variants_available(vid for _pid, vid in wanted)
        for (product_id, variant_id), data in wanted.items():
            notes += _merge_line(
                cart=cart, product=products.get(product_id), variant_id=variant_id, data=data,
                line=existing.get(variant_id), available=available.get(variant_id, 0),
            )
        guest_voucher = session.get(SESSION_VOUCHER_KEY)
        if isinstance(guest_voucher, str) and guest_voucher and not cart.voucher_code:
            # The code was checked when applied and is checked again when priced and at checkout.
            Cart.objects.filter(pk=cart.pk).update(voucher_code=guest_voucher)
    session.pop(SESSION_CART_KEY, None)
    session.pop(SESSION_VOUCHER_KEY, None)
    session.modified = True
    if notes:
        for note in notes:
            messages.warning(request, note)
    messages.info(request, _("The items you added before signing in are in your cart."))
    return notes


def session_key_parse(key) -> tuple[int, int | None] | None:
    """(product id, variant id or None for the default) of a guest line's key; None for a bad key."""
    try:
        parts = [int(part) for part in str(key).split(":")]
    except (TypeError, ValueError):
        return None
    if len(parts) == 1 and id_in_range(parts[0]):
        return parts[0], None
    if len(parts) == 2 and id_in_range(parts[0]) and id_in_range(parts[1]):
        return parts[0], parts[1]
    return None


def _guest_lines_by_variant(guest_lines: dict[str, dict]) -> dict[tuple[int, int], dict]:
    """The session's lines keyed by (product id, variant id); keys that name no variant of theirs are dropped."""
    parsed = {key: session_key_parse(key) for key in guest_lines}
    defaults = default_variant_ids({p[0] for p in parsed.values() if p is not None})
    owners = dict(
        ProductVariant.objects.filter(pk__in=[p[1] for p in parsed.values() if p and p[1]]).values_list(
            "pk", "product_id"
        )
    )
    wanted: dict[tuple[int, int], dict] = {}
    for key, data in guest_lines.items():
        ids = parsed[key]
        if ids is None:
            continue
        product_id, variant_id = ids
        variant_id = defaults.get(product_id) if variant_id is None else variant_id
        if variant_id is not None and (ids[1] is None or owners.get(variant_id) == product_id):
            wanted[(product_id, variant_id)] = data
        elif ids[1] is None:
            wanted[(product_id, 0)] = data  # a product gone: reported by the merge
    return wanted


def _merge_line(
    *, cart: Cart, product, variant_id: int, data: dict, line: CartLine | None, available: int
) -> list[str]:
    """Add one guest line to the locked cart (capped at the stock); returns the notes for the shopper."""
    if product is None or not product.is_active or not variant_id:
        return [_("A product from your cart is no longer available and was removed.")]
    try:
        guest_quantity = int(data.get("quantity", 0))
    except (TypeError, ValueError):
        return []
    notes: list[str] = []
    current = line.quantity if line else 0
    want = current + max(guest_quantity, 0)
    cap = min(available, MAX_LINE_QUANTITY)
    new = min(want, cap)
    if new < want:
        if new <= current:
            notes.append(
                _("“%(name)s” could not be added again: only %(n)d in stock.") % {"name": product.name, "n": cap}
            )
        else:
            notes.append(
                _("“%(name)s”: quantity set to %(n)d, the most available.") % {"name": product.name, "n": new}
            )
    seen = seen_price(data)
    if seen is not None and seen != product.price:
        notes.append(_("The price of “%(name)s” has changed since you added it.") % {"name": product.name})
    if new <= 0 or new == current:
        return notes
    if line is None:
        CartLine.objects.create(
            cart=cart, product_id=product.id, variant_id=variant_id, quantity=new, price_seen=product.price
        )
    else:
        line.quantity = new
        line.save(update_fields=["quantity", "updated_at"])
    return notes


def seen_price(data: dict) -> Money | None:
    try:
        return Money(Decimal(str(data["price"])), data["currency"])
    except Exception:  # noqa: BLE001 - a malformed session entry just has no price to compare
        return None


def cart_lines_fit_stock(*, owner: CartOwner) -> int:
    """Take what is available: lower each line to its variant's stock, drop the sold-out ones; returns lines changed.

    Takes the cart row lock (signed-in carts).
    """
    if owner.is_guest:
        lines = session_lines(owner.session)
        parsed = {key: session_key_parse(key) for key in lines}
        defaults = default_variant_ids({ids[0] for ids in parsed.values() if ids})
        variant_of = {key: (ids[1] or defaults.get(ids[0])) for key, ids in parsed.items() if ids}
        available = variants_available(v for v in variant_of.values() if v)
        changed = 0
        for key, variant_id in variant_of.items():
            have = min(available.get(variant_id, 0), MAX_LINE_QUANTITY)
            quantity = lines[key].get("quantity", 0) if isinstance(lines[key], dict) else 0
            if quantity > have:
                changed += 1
                if have > 0:
                    lines[key]["quantity"] = have
                else:
                    lines.pop(key)
        if changed:
            _session_save(owner.session, lines)
        return changed
    with transaction.atomic():
        cart = _locked_cart(owner.user)
        rows = list(CartLine.objects.filter(cart=cart))
        available = variants_available(line.variant_id for line in rows)
        changed = 0
        for line in rows:
            have = min(available.get(line.variant_id, 0), MAX_LINE_QUANTITY)
            if line.quantity > have:
                changed += 1
                if have > 0:
                    CartLine.objects.filter(pk=line.pk).update(quantity=have, updated_at=timezone.now())
                else:
                    line.delete()
        return changed


def cart_voucher_apply(*, user=None, code: str, goods: Money, session=None) -> str:
    """Put a voucher on the user's cart (a guest's: on the session's, with `session`) after checking it
    can be used now; returns the code as stored.

    `goods`: the cart's subtotal after catalogue promotions, in the cart's currency (what the
    voucher's minimum order value is compared with). VoucherInvalid / VoucherExpired /
    VoucherExhausted / VoucherMinSpend (400, field code) leave the cart as it was. The voucher is
    checked again when the cart is priced and at checkout, where its use is counted.
    """
    voucher = voucher_get_usable(code=code)
    currency = goods.currency.code
    rows = {row.currency: row for row in voucher.amounts.all()}
    row = rows.get(currency)
    if voucher.kind == DiscountKind.FIXED and (row is None or row.amount is None):
        raise VoucherInvalid(field="code")
    if row is not None and row.minimum_spend is not None and goods.amount < row.minimum_spend:
        raise VoucherMinSpend(field="code")
    if user is None:
        session[SESSION_VOUCHER_KEY] = voucher.code
        session.modified = True
        return voucher.code
    with transaction.atomic():
        Cart.objects.get_or_create(user=user)
        Cart.objects.filter(user=user).update(voucher_code=voucher.code)
    return voucher.code


def cart_voucher_remove(*, user=None, session=None) -> None:
    """Take the voucher off the user's cart, or a guest's `session` cart (nothing to remove is fine)."""
    if user is None:
        if session is not None and session.pop(SESSION_VOUCHER_KEY, None) is not None:
            session.modified = True
        return
    Cart.objects.filter(user=user).update(voucher_code="")


def cart_voucher_put_back(*, user=None, code: str, session=None) -> None:
    """Put back the voucher an order took from the cart (its card was declined: the shopper tries again)."""
    if user is None:
        if session is not None and not session.get(SESSION_VOUCHER_KEY):
            session[SESSION_VOUCHER_KEY] = code
            session.modified = True
        return
    Cart.objects.filter(user=user, voucher_code="").update(voucher_code=code)
