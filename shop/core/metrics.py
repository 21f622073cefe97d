"""Prometheus metrics: what every request and Celery task counts, and the shop's own gauges.

Counters and histograms are module-level `prometheus_client` metrics. With
PROMETHEUS_MULTIPROC_DIR set (several gunicorn workers, the Celery worker's
pool), each process writes its values to files there and a scrape adds them
up (`multiprocess.MultiProcessCollector`); without it, one process's own
values are served. The directory must be emptied before the processes start
(see the README).

The shop's gauges are computed when Prometheus scrapes, from the database
and the cache, through a registry in this base layer, so the base imports no
app: an app registers its gauge in its `AppConfig.ready`:

    gauge_register("shop_reservations_active", reservations_open_count,
                   documentation="Open stock reservations.")

A gauge function returns a number, or, with `labelnames`, a dict from label
value tuples to numbers.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from celery import signals
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
QUERY_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

HTTP_REQUESTS = Counter(
    "shop_http_requests_total", "HTTP requests answered, by method, route and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DB_QUERIES = Histogram(
    "shop_http_db_queries", "Database queries made by one HTTP request, by route.", ["route"], buckets=QUERY_BUCKETS
)
TASK_RUNS = Counter(
    "shop_celery_task_runs_total", "Celery task runs, by task and outcome (succeeded, failed, retried).", ["task", "outcome"]
)
TASK_DURATION = Histogram(
    "shop_celery_task_duration_seconds", "Time one Celery task run took, by task.", ["task"], buckets=TASK_BUCKETS
)

GaugeFunction = Callable[[], float | int | dict[tuple[str, ...], float | int]]


@dataclass(frozen=True)
class _Gauge:
    documentation: str
    labelnames: tuple[str, ...]
    function: GaugeFunction


_gauges: dict[str, _Gauge] = {}


def gauge_register(name: str, function: GaugeFunction, *, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
    """Serve the gauge `name`, computed by `function()` at every scrape (replaces an earlier registration)."""
    _gauges[name] = _Gauge(documentation=documentation, labelnames=tuple(labelnames), function=function)


def gauge_unregister(name: str) -> None:
    _gauges.pop(name, None)


class _ShopGauges:
    """A collector that computes every registered gauge when scraped; one that fails is left out and logged."""

    def collect(self):
        for name, gauge in sorted(_gauges.items()):
            try:
                value = gauge.function()
            except Exception:
                logger.exception("metrics gauge %s failed", name)
                continue
            family = GaugeMetricFamily(name, gauge.documentation, labels=gauge.labelnames)
            if gauge.labelnames:
                for labels, number in sorted(value.items()):
                    family.add_metric([str(label) for label in labels], float(number))
            else:
                family.add_metric([], float(value))
            yield family


class _ProcessMetrics:
    """This process's own metrics (single-process mode), added to a scrape's registry."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_registry() -> CollectorRegistry:
    """The registry one scrape reads: every process's counters (multiprocess mode) or this one's, and the gauges."""
    registry = CollectorRegistry()
    if settings.PROMETHEUS_MULTIPROC_DIR:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(_ShopGauges())
    return registry


def metrics_text() -> bytes:
    """The Prometheus text exposition of `metrics_registry()`."""
    return generate_latest(metrics_registry())


# --- Celery tasks ----------------------------------------------------------------------------

_task_started: dict[str, float] = {}
_TASK_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


def _task_prerun(task_id=None, **_kwargs):
    _task_started[task_id] = time.monotonic()


def _task_postrun(task_id=None, task=None, state=None, **_kwargs):
    started = _task_started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    TASK_RUNS.labels(task=name, outcome=_TASK_OUTCOMES.get(state, str(state).lower())).inc()
    if started is not None:
        TASK_DURATION.labels(task=name).observe(time.monotonic() - started)


def celery_metrics_connect() -> None:
    """Count task runs, failures and durations from Celery's signals (call once, from an AppConfig.ready)."""
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="shop.core.metrics.prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="shop.core.metrics.postrun")
