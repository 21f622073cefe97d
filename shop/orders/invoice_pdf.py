"""The PDF of an invoice or credit note: a pure function of its frozen snapshot (see invoice_models).

fpdf2 (pure Python) with a bundled DejaVu Sans subset (shop/orders/fonts,
Latin-1, Latin Extended-A, the euro sign and typographic punctuation):
fpdf2's core fonts cannot print the euro sign, and fonts installed on the
machine differ from one host to the next. The creation date is the
document's issue time and nothing else varies, so the same snapshot always
renders the same bytes. Labels are translated into the snapshot's language;
amounts are formatted with their currency by the shop's Money formatting.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.utils import formats, translation
from django.utils.translation import gettext as _
from djmoney.money import Money
from fpdf import FPDF
from fpdf.fonts import FontFace

# fontTools logs every table it prunes while fpdf2 subsets the font: noise at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)
FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
_LINE_COLUMNS = (14, 36, 9, 14, 9, 18)  # share of the width: item, name, quantity, unit price, tax rate, amount


def invoice_pdf_render(document: dict) -> bytes:
    """The PDF of a document snapshot (an invoice or a credit note), as bytes."""
    with translation.override(document.get("language") or None):
        pdf = _pdf_new(document)
        _header(pdf, document)
        _lines_table(pdf, document)
        _tax_summary(pdf, document)
        _totals(pdf, document)
        _footer(pdf, document)
        return bytes(pdf.output())


def _money(document: dict, amount: str) -> str:
    return str(Money(Decimal(amount), document["currency"]))


def _date(value: str) -> str:
    return formats.date_format(date.fromisoformat(value), "DATE_FORMAT")


def _title(document: dict) -> str:
    return _("Credit note") if document["kind"] == "credit_note" else _("Invoice")


def _pdf_new(document: dict) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.fromisoformat(document["issued_at"]))
    pdf.set_title(f"{_title(document)} {document['number']}")
    pdf.set_author(document["seller"]["name"])
    pdf.set_creator(document["seller"]["name"])
    pdf.set_producer("shop")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    return pdf


def _text_lines(pdf: FPDF, lines: list[str], *, size: float = 9, bold_first: bool = False, align="L") -> None:
    for index, line in enumerate(lines):
        pdf.set_font(FONT, "B" if bold_first and index == 0 else "", size)
        pdf.cell(0, size * 0.5, line, new_x="LMARGIN", new_y="NEXT", align=align)


def _header(pdf: FPDF, document: dict) -> None:
    seller, buyer = document["seller"], document["buyer"]
    _text_lines(pdf, [seller["name"], *seller["address"], seller.get("email", "")], bold_first=True, align="R")
    pdf.ln(6)
    _text_lines(pdf, [buyer["name"], *buyer["address"], buyer.get("email", "")], size=10, bold_first=True)
    pdf.ln(8)
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 9, f"{_title(document)} {document['number']}", new_x="LMARGIN", new_y="NEXT")
    facts = [
        _("Date: %(date)s") % {"date": _date(document["issue_date"])},
        _("Order: %(number)s of %(date)s") % {"number": document["order_number"], "date": _date(document["order_date"])},
    ]
    if document.get("refers_to"):
        facts.append(_("Credit note for invoice %(number)s") % {"number": document["refers_to"]})
    _text_lines(pdf, facts, size=10)
    pdf.ln(5)


def _line_name(line: dict) -> str:
    if line.get("kind") == "adjustment":
        return _("Other amounts refunded")
    options = ", ".join(f"{name}: {value}" for name, value in (line.get("options") or {}).items())
    return f"{line['name']} ({options})" if options else line["name"]


def _rate(rate: str) -> str:
    return f"{formats.number_format(Decimal(rate).normalize(), use_l10n=True)} %"


def _lines_table(pdf: FPDF, document: dict) -> None:
    pdf.set_font(FONT, "", 9)
    headings = (_("Item"), _("Description"), _("Quantity"), _("Unit price"), _("Tax"), _("Amount"))
    with pdf.table(
        col_widths=_LINE_COLUMNS, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD"), borders_layout="HORIZONTAL_LINES", line_height=5.5,
        padding=1,
    ) as table:
        table.row(headings)
        for line in document["lines"]:
            table.row((
                line.get("sku", ""), _line_name(line), str(line["quantity"]),
                _money(document, line["unit_price"]), _rate(line["tax_rate"]), _money(document, line["gross"]),
            ))
    pdf.ln(4)


def _tax_summary(pdf: FPDF, document: dict) -> None:
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, _("Tax summary"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=(1, 1, 1, 1), text_align="RIGHT", headings_style=FontFace(emphasis="BOLD"),
        borders_layout="HORIZONTAL_LINES", line_height=5.5, padding=1, width=110, align="LEFT",
    ) as table:
        table.row((_("Tax rate"), _("Net"), _("Tax"), _("Gross")))
        for rate in document["tax_summary"]:
            table.row((_rate(rate["rate"]), _money(document, rate["net"]), _money(document, rate["tax"]),
                       _money(document, rate["gross"])))
    pdf.ln(4)


def _totals(pdf: FPDF, document: dict) -> None:
    rows = [(_("Subtotal"), document["subtotal"])]
    if Decimal(document["discount_total"]):
        rows.append((_("Discounts"), f"-{document['discount_total']}"))
    if Decimal(document["shipping"]) or Decimal(document["shipping_tax"]):
        rows.append((_("Shipping"), str(Decimal(document["shipping"]) + Decimal(document["shipping_tax"]))))
    rows += [(_("Net"), document["net_total"]), (_("Tax"), document["tax_total"])]
    for label, amount in rows:
        pdf.set_font(FONT, "", 10)
        pdf.cell(140, 6, label, align="R")
        pdf.cell(0, 6, _money(document, amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 11)
    label = _("Total credited") if document["kind"] == "credit_note" else _("Total")
    pdf.cell(140, 7, label, align="R")
    pdf.cell(0, 7, _money(document, document["total"]), align="R", new_x="LMARGIN", new_y="NEXT")
    if Decimal(document.get("gift_card_total") or 0):
        pdf.set_font(FONT, "", 9)
        pdf.cell(140, 6, _("Paid by gift card"), align="R")
        pdf.cell(0, 6, _money(document, document["gift_card_total"]), align="R", new_x="LMARGIN", new_y="NEXT")


def _footer(pdf: FPDF, document: dict) -> None:
    seller = document["seller"]
    pdf.ln(8)
    parts = [seller["name"]]
    if seller.get("vat_id"):
        parts.append(_("VAT ID: %(id)s") % {"id": seller["vat_id"]})
    if seller.get("registration"):
        parts.append(seller["registration"])
    pdf.set_font(FONT, "", 8)
    pdf.multi_cell(0, 4, " · ".join(parts), align="C")
