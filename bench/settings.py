"""Settings for the benchmark only: the shop's settings plus a URLconf with the bare baseline view."""

from shop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
