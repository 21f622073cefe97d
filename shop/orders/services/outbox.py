"""The order e-mail outbox: rows written in the caller's transaction, sent after commit, drained by beat."""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from shop.core.tasks import task_enqueue_on_commit
from shop.orders.guest_access import order_access_url
from shop.orders.models import Invoice, Order, OutboxEmail
from shop.orders.selectors import order_breakdown
from shop.orders.services.invoices import invoice_pdf

logger = logging.getLogger(__name__)
# The context key holding the ids of the invoices (or credit notes) attached to an e-mail.
ATTACHMENTS = "attachments"
SEND_TASK = "shop.orders.tasks.send_order_email"
# The outbox ids queued inside outbox_sends_batched(), sent by one task (None: a task per e-mail).
_batch: ContextVar[list[int] | None] = ContextVar("outbox_batch", default=None)


@contextmanager
def outbox_sends_batched():
    """The e-mails queued inside are sent by one task after commit instead of one task each (a checkout
    queues two: placed and paid). Use inside the transaction that queues them; nothing is sent when its
    body raises. A row a rolled-back savepoint took back is simply not found by the task."""
    ids: list[int] = []
    token = _batch.set(ids)
    try:
        yield
    finally:
        _batch.reset(token)
    if ids:
        task_enqueue_on_commit(SEND_TASK, *ids)


def outbox_email_queue(
    *, order: Order, kind: str, key_suffix: str = "", context: dict | None = None, first_time: bool = False,
    attachments: list[int] | None = None,
) -> OutboxEmail:
    """Write an e-mail to the outbox in the caller's transaction; sent after commit.

    The key makes it idempotent: the same e-mail queued twice is one row.
    `first_time` is for callers that cannot queue this e-mail twice (a new
    order; a transition made under the order's lock): the row is simply
    inserted, and should that ever be wrong the unique key fails the whole
    transaction rather than sending two. Should the broker be down after
    commit, the drain_outbox beat job sends it later. `attachments` are
    ids of the order's invoices or credit notes: the row keeps the ids
    only, and each document's PDF is loaded when the e-mail is sent.
    """
    key = f"{order.number}:{kind}{key_suffix}"
    fields = {
        "kind": kind,
        "order": order,
        "recipient": order.email or order.user.email,
        "language": (order.user.preferred_language if order.user_id else "") or translation.get_language() or "",
        "context": {**(context or {}), **({ATTACHMENTS: list(attachments)} if attachments else {})},
    }
    if first_time:
        row, created = OutboxEmail.objects.create(key=key, **fields), True
    else:
        with transaction.atomic(savepoint=False):
            row, created = OutboxEmail.objects.get_or_create(key=key, defaults=fields)
    if created:
        batch = _batch.get()
        if batch is not None:
            batch.append(row.id)
        else:
            task_enqueue_on_commit(SEND_TASK, row.id)
    return row


def outbox_max_attempts() -> int:
    """Attempts after which an unsent e-mail is given up (left for staff: admin filter "given up")."""
    return settings.OUTBOX_MAX_ATTEMPTS


def outbox_message_id(key: str) -> str:
    """The Message-ID of an outbox e-mail, derived from its key: a resend (the send went out but
    marking it sent was not committed) carries the same id, so mail systems can drop the copy."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}.outbox@{domain}>"


def outbox_email_send(*, outbox_id: int) -> bool:
    """Send one queued e-mail, at most once: the row is claimed (skip_locked) and marked sent
    in the same transaction. Returns whether it was sent now."""
    with transaction.atomic():
        row = (
            OutboxEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, sent_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        row.attempts += 1
        try:
            _email_deliver(row)
        except Exception as exc:  # the provider failed: keep the row for the next drain
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:255]
            row.save(update_fields=["attempts", "last_error"])
            if row.attempts >= outbox_max_attempts():
                logger.error("e-mail %s given up after %d attempts: %s", row.key, row.attempts, row.last_error)
            else:
                logger.warning("e-mail %s not sent: %s", row.key, row.last_error)
            return False
        row.sent_at = timezone.now()
        row.last_error = ""
        row.context = _secrets_scrubbed(row.context)
        row.save(update_fields=["attempts", "sent_at", "last_error", "context"])
        return True


def outbox_context_masked(context: dict) -> dict:
    """The context as staff may see it: gift-card codes masked (only their last four characters shown)."""
    if not isinstance(context, dict) or not isinstance(context.get("cards"), list):
        return context
    return {
        **context,
        "cards": [
            {**card, "code": "····" + str(card["code"])[-4:]} if "code" in card else card for card in context["cards"]
        ],
    }


def _secrets_scrubbed(context: dict) -> dict:
    """The context without the gift-card codes it carried: once e-mailed, the shop keeps no code (only its hash)."""
    if not isinstance(context.get("cards"), list):
        return context
    return {**context, "cards": [{k: v for k, v in card.items() if k != "code"} for card in context["cards"]]}


def outbox_email_retry(*, outbox_id: int) -> bool:
    """Staff give a given-up (or failing) e-mail a fresh set of attempts and send it now."""
    with transaction.atomic():
        OutboxEmail.objects.filter(pk=outbox_id, sent_at__isnull=True).update(attempts=0, last_error="")
    return outbox_email_send(outbox_id=outbox_id)


def outbox_drain(*, limit: int = 100) -> int:
    """Send the unsent e-mails (oldest first) that have attempts left; returns how many were sent."""
    ids = list(
        OutboxEmail.objects.filter(sent_at__isnull=True, attempts__lt=outbox_max_attempts())
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for outbox_id in ids if outbox_email_send(outbox_id=outbox_id))


def _email_deliver(row: OutboxEmail) -> None:
    order = Order.objects.prefetch_related("lines").get(pk=row.order_id)
    row_context = dict(row.context)
    documents = list(Invoice.objects.filter(order=order, pk__in=row_context.pop(ATTACHMENTS, [])).order_by("id"))
    context = {
        "order": order, "lines": list(order.lines.all()), "breakdown": order_breakdown(order),
        "site_url": settings.SITE_URL, "documents": documents,
        # A guest has no account to sign in to: the e-mail carries the signed link to the order's page.
        "guest_order_url": order_access_url(order) if order.is_guest else "",
        **row_context,
    }
    with translation.override(row.language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"orders/email/{row.kind}_subject.txt", context).strip()
        text = render_to_string(f"orders/email/{row.kind}.txt", context)
        html = render_to_string(f"orders/email/{row.kind}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=text, to=[row.recipient],
        headers={"X-Order": order.number, "Message-ID": outbox_message_id(row.key)},
    )
    message.attach_alternative(html, "text/html")
    for document in documents:
        message.attach(document.filename, invoice_pdf(document), "application/pdf")
    message.send()
