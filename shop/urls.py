from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import urls as accounts_urls
from catalog import urls as catalog_urls
from catalog.engagement import urls as engagement_urls
from payments import urls as payments_urls
from shop import views
from shop.cart import urls as cart_urls
from shop.orders import urls as orders_urls
from shop.shipping import urls as shipping_urls

api_v1 = [
    path("", include((accounts_urls.api_urlpatterns, "accounts_api"))),
    path("", include((catalog_urls.api_urlpatterns, "catalog_api"))),
    path("", include((engagement_urls.api_urlpatterns, "engagement_api"))),
    path("", include((cart_urls.api_urlpatterns, "cart_api"))),
    path("", include((orders_urls.api_urlpatterns, "orders_api"))),
    path("", include((payments_urls.api_urlpatterns, "payments_api"))),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("currency/", views.currency_set, name="currency_set"),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include(api_v1)),
    path("account/", include(accounts_urls)),
    path("cart/", include(cart_urls)),
    path("orders/", include(orders_urls)),
    path("shipping/", include(shipping_urls)),
    path("pages/", include("django.contrib.flatpages.urls")),
    path("", include(payments_urls)),
    path("", include(engagement_urls)),
    path("", include(catalog_urls)),
]

if settings.PSP_SANDBOX_ENABLED:
    urlpatterns.insert(0, path("psp-sandbox/", include("payments.psp_sandbox.urls")))

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "shop.views.page_not_found"
handler500 = "shop.views.server_error"
