"""Structured logs (structlog): JSON lines with the request id, following a request into its Celery tasks.

`logging_config(level=, fmt=)` configures structlog and returns the LOGGING
dict for settings: every record, ours (`structlog.get_logger`) and the
standard library's (Django, Celery, `logging.getLogger`), leaves as one line,
JSON (`fmt="json"`) or readable key=value text (`"console"`), carrying the
context bound in `structlog.contextvars`.

The request id is bound by `shop.core.middleware.RequestObservabilityMiddleware`
(taken from `X-Request-ID` or made). A task queued during the request carries
it in its message headers (`before_task_publish`), and the worker binds it
again while the task runs (`task_prerun`), so the task's logs name the request
that queued it.
"""

import re
import uuid

import structlog
from celery import signals

REQUEST_ID_HEADER = "shop_request_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def logging_config(*, level: str, fmt: str) -> dict:
    """Configure structlog and return Django's LOGGING: one handler on the root logger, JSON or console lines."""
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if fmt == "json":
        render = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(sort_keys=False)]
    else:
        render = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
                "foreign_pre_chain": _shared_processors(),
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is a sane token (letters, digits, `._:-`, at most 128), else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def request_id_current() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


# --- Celery: the request id travels with the task -------------------------------------------

_task_tokens: dict[str, dict] = {}


def _before_task_publish(headers=None, **_kwargs):
    request_id = request_id_current()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _task_prerun(task_id=None, task=None, **_kwargs):
    bound = {"task": getattr(task, "name", ""), "task_id": task_id}
    request_id = getattr(getattr(task, "request", None), REQUEST_ID_HEADER, None)
    if request_id:  # queued by a request (in eager mode the request's own context already has it)
        bound["request_id"] = request_id
    _task_tokens[task_id] = structlog.contextvars.bind_contextvars(**bound)


def _task_postrun(task_id=None, **_kwargs):
    tokens = _task_tokens.pop(task_id, None)
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)


def celery_logs_connect() -> None:
    """Carry the request id into tasks (call once, from an AppConfig.ready)."""
    signals.before_task_publish.connect(_before_task_publish, weak=False, dispatch_uid="shop.core.logs.publish")
    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="shop.core.logs.prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="shop.core.logs.postrun")

