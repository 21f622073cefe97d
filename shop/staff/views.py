"""Staff dashboard and reports, served inside the admin (wired in shop/staff/admin.py).

Charts are SVG drawn here on the server: no JavaScript, no CDN. Both pages
need `payments.view_staff_reports` (groups "support" and "finance").
"""

import csv
import math
from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from payments.breaker import breaker_status
from payments.models import ReconciliationRun
from shop.core.db import replica_iter, replica_reads
from shop.staff import reports

PERMISSION = "payments.view_staff_reports"
MAX_RANGE_DAYS = 366
DASHBOARD_CHART = 460  # px: a dashboard card is about this wide on a laptop screen
REPORT_CHART = 760


def _require(request) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (an axis maximum people can read)."""
    if value <= 0:
        return Decimal(1)
    scale = Decimal(10) ** (value.adjusted())
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if scale * step >= value:
            return scale * step
    return scale * 10


def _axis_label(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def bar_chart(
    points: list[tuple[str, Decimal | int]], *, title: str, width: int = 640, height: int = 240, show_title: bool = True
) -> SafeString:
    """A labelled SVG bar chart (values >= 0); an empty series draws an empty frame with a note.

    The y axis goes to a round maximum with a middle gridline (whole numbers
    for counts); bars are at most 56 px wide; short x labels (dates) are
    thinned to fit, long ones (names) are turned. The title is also the SVG's
    accessible name; `show_title=False` leaves it off the picture when the
    page already shows it as a heading.
    """
    longest = max((len(str(label)) for label, _value in points), default=0)
    pad_left, pad_top = 56, 28 if show_title else 10
    plot_w = width - pad_left - 12
    slot = plot_w / len(points) if points else plot_w
    turned = longest > 8 and longest * 7 > slot - 4
    every = max(1, len(points) // 12) if turned else max(1, math.ceil((longest * 7 + 8) / slot))
    pad_bottom = min(96, 24 + int(longest * 5.2)) if turned else 30
    plot_h = height - pad_bottom - pad_top
    peak = max([Decimal(value) for _label, value in points] + [Decimal(0)])
    top = _nice_ceiling(peak)
    if all(isinstance(value, int) for _label, value in points) and top % 2:
        top = max(Decimal(2), Decimal(math.ceil(peak / 2) * 2))  # counts: the middle line stays a whole number
    base = pad_top + plot_h
    parts = []
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = base - float(fraction) * plot_h
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
            '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#555">{}</text>',
            pad_left, f"{y:.1f}", width - 12, f"{y:.1f}", "#999" if fraction == 0 else "#e3e3e3", pad_left - 6,
            f"{y + 4:.1f}", _axis_label(top * fraction),
        ))
    if points and peak > 0:
        bar_w = min(max(slot * 0.7, 1), 56)
        for index, (label, value) in enumerate(points):
            h = float(Decimal(value) / top) * plot_h
            x = pad_left + index * slot + (slot - bar_w) / 2
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"><title>{}: {}</title></rect>',
                f"{x:.1f}", f"{base - h:.1f}", f"{bar_w:.1f}", f"{h:.1f}", label, value,
            ))
            if index % every == 0:
                cx = f"{x + bar_w / 2:.1f}"
                if turned:
                    parts.append(format_html(
                        '<text x="{}" y="{}" font-size="11" text-anchor="end" transform="rotate(-35 {} {})">{}</text>',
                        cx, base + 14, cx, base + 14, label,
                    ))
                else:
                    parts.append(format_html(
                        '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>', cx, base + 16, label,
                    ))
    else:
        parts.append(format_html(
            '<text x="{}" y="{}" font-size="13" text-anchor="middle" fill="#666">{}</text>',
            f"{pad_left + plot_w / 2:.0f}", f"{pad_top + plot_h / 2:.0f}", _("No data"),
        ))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" class="staff-chart"><title>{title}</title>{caption}{parts}</svg>',
        title=title, w=width, h=height, parts=mark_safe("".join(parts)),  # noqa: S308
        caption=format_html('<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>', pad_left, title)
        if show_title else "",
    )


def _daily_series(rows: list[dict], start: date, end: date) -> dict[str, list[tuple[str, Decimal]]]:
    """Per currency, one (MM-DD, total) point for every day of the range (0 where nothing sold)."""
    by_currency: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        by_currency[row["currency"]][row["day"]] = row["total"]
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return {
        currency: [(f"{day:%m-%d}", totals.get(day, Decimal(0))) for day in days]
        for currency, totals in sorted(by_currency.items())
    }


def _units_by_sku(rows: list[dict]) -> list[tuple[str, int]]:
    """Units per product across currencies (the table splits revenue by currency, the chart need not)."""
    units: dict[str, int] = defaultdict(int)
    for row in rows:
        units[row["sku"]] += row["units"]
    return sorted(units.items(), key=lambda item: (-item[1], item[0]))


@replica_reads()
def dashboard_view(request):
    """Today's and this month's sales, orders by status, stuck payments, low stock, last 30 days chart.

    Read from a replica; rendered here, inside `replica_reads()`, since the context holds lazy querysets."""
    _require(request)
    figures = reports.today_and_month()
    today = figures["today"]
    start = today - timedelta(days=29)
    series = _daily_series(reports.daily_sales(start=start, end=today), start, today)
    statuses = reports.orders_by_status()
    stuck, stuck_count = reports.payments_stuck()
    context = {
        **admin.site.each_context(request),
        "title": _("Shop dashboard"),
        **figures,
        "statuses": statuses,
        "status_chart": bar_chart(
            [(s["label"], s["count"]) for s in statuses], title=_("Orders by status"), width=DASHBOARD_CHART,
            show_title=False,
        ),
        "sales_charts": [
            bar_chart(points, title=_("Sales per day, last 30 days (%(currency)s)") % {"currency": currency},
                      width=DASHBOARD_CHART)
            for currency, points in series.items()
        ],
        "stuck": stuck,
        "stuck_count": stuck_count,
        "low_stock": reports.products_low_stock(),
        "low_stock_threshold": reports.LOW_STOCK,
        "held_count": reports.held_payments_count(),
        "open_items": reports.open_reconciliation_items(),
        "last_run": ReconciliationRun.objects.order_by("-day", "-id").first(),
        "breaker": breaker_status(),
    }
    return TemplateResponse(request, "admin/staff/dashboard.html", context).render()


class RangeForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The end date is before the start date."))
            if (end - start).days >= MAX_RANGE_DAYS:
                raise forms.ValidationError(_("Choose at most a year."))
        return data


EXPORTS = {
    "daily_sales": (
        ["day", "currency", "orders", "total", "refunded"],
        lambda s, e: ([r["day"], r["currency"], r["orders"], r["total"], r["refunded"]] for r in reports.daily_sales(start=s, end=e)),
    ),
    "top_products": (
        ["sku", "name", "currency", "units", "revenue"],
        lambda s, e: ([r["sku"], r["name"], r["currency"], r["units"], r["revenue"]] for r in reports.top_products(start=s, end=e, limit=1000)),
    ),
    "turnover": (
        ["sku", "name", "units_sold", "stock_at_start", "stock_at_end", "average_stock", "turnover"],
        lambda s, e: (
            [t.sku, t.name, t.sold, t.start_stock, t.end_stock, t.average_stock, t.turnover if t.turnover is not None else ""]
            for t in reports.inventory_turnover_all(start=s, end=e)
        ),
    ),
}


def _csv_cell(value):
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def _csv_lines(header, rows):
    """CSV text line by line: an export of every product never sits whole in memory."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_csv_cell(cell) for cell in row])


@replica_reads()
def reports_view(request):
    """Daily sales per currency, top products and inventory turnover for a date range; `?export=` gives CSV.

    Read from a replica: the page is rendered inside `replica_reads()`, the CSV streamed through `replica_iter`."""
    _require(request)
    today = timezone.now().astimezone(UTC).date()
    form = RangeForm(request.GET or {"start": today - timedelta(days=29), "end": today})
    if not form.is_valid():
        return TemplateResponse(
            request, "admin/staff/reports.html", {**admin.site.each_context(request), "title": _("Reports"), "form": form}
        )
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    export = request.GET.get("export")
    if export in EXPORTS:
        header, rows = EXPORTS[export]
        response = StreamingHttpResponse(replica_iter(_csv_lines(header, rows(start, end))), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export}_{start}_{end}.csv"'
        return response
    daily = reports.daily_sales(start=start, end=end)
    top = reports.top_products(start=start, end=end)
    turnover = reports.inventory_turnover(start=start, end=end, limit=20)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    context = {
        **admin.site.each_context(request),
        "title": _("Reports"),
        "form": form,
        "start": start,
        "end": end,
        "query": query,
        "daily": daily,
        "totals": reports.sales_by_currency(start=start, end=end),
        "sales_charts": [
            bar_chart(points, title=_("Sales per day (%(currency)s)") % {"currency": currency}, width=REPORT_CHART)
            for currency, points in _daily_series(daily, start, end).items()
        ],
        "top": top,
        "top_chart": bar_chart(_units_by_sku(top)[:10], title=_("Top products by units sold (all currencies)"),
                               width=REPORT_CHART),
        "turnover": turnover,
        "slowest": reports.inventory_slowest(start=start, end=end),
    }
    return TemplateResponse(request, "admin/staff/reports.html", context).render()

