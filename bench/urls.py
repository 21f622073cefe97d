"""The shop's URLs plus `bench/bare/`, the baseline every figure is compared with."""

from django.urls import path

from bench.views import bare
from shop.urls import handler404, handler500  # noqa: F401
from shop.urls import urlpatterns as shop_urlpatterns

urlpatterns = [path("bench/bare/", bare, name="bench_bare"), *shop_urlpatterns]
