"""Staff pages inside the default admin site: /admin/staff/dashboard/ and /admin/staff/reports/.

The default `admin.site` is kept (every app registers on it); its URL list
is extended here, which `admin.autodiscover` imports before shop/urls.py
reads `admin.site.urls`. The admin index links to both pages.
"""

from django.contrib import admin
from django.urls import path

from shop.staff import views

_default_get_urls = admin.site.get_urls


def _get_urls():
    staff = [
        path("staff/dashboard/", admin.site.admin_view(views.dashboard_view), name="staff_dashboard"),
        path("staff/reports/", admin.site.admin_view(views.reports_view), name="staff_reports"),
    ]
    return staff + _default_get_urls()


if getattr(admin.site.get_urls, "__name__", "") != "_get_urls":
    admin.site.get_urls = _get_urls
admin.site.index_template = "admin/staff/index.html"
