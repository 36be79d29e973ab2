"""Webhooks: a signed POST to the user's URL on every status change of their alignments.

Durable by construction. A status change and its deliveries are written in one
transaction (an outbox: a session hook adds a delivery row wherever an
alignment's status changes), and a sender thread in every server and worker
process posts the due ones, retrying with exponential backoff. A delivery
survives a restart; whichever process claims it first sends it. Delivery is at
least once (a process killed mid-POST leaves the claim to expire and another
sends it again): receivers dedupe on the delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, inspect, or_, select, update
from sqlalchemy.orm import Session

from domalign.ids import new_id
from domalign.store.tables import Alignment, Webhook, WebhookDelivery, utcnow
from domalign.workflow.context import Context
from domalign.workflow.ownership import load_owned

log = logging.getLogger(__name__)

STATUS_CHANGED = "alignment.status_changed"
SIGNATURE_HEADER = "X-Domalign-Signature"
TIMESTAMP_HEADER = "X-Domalign-Timestamp"
EVENT_HEADER = "X-Domalign-Event"
DELIVERY_HEADER = "X-Domalign-Delivery"
MAX_BACKOFF_S = 3600.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"``; the timestamp lets receivers refuse replays."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def create_webhook(ctx: Context, owner_id: str, url: str, secret: str | None) -> Webhook:
    """Register ``url``; without ``secret`` one is generated (returned once, by the create route)."""
    row = Webhook(id=new_id("webhook"), owner_id=owner_id, url=url, secret=secret or secrets.token_urlsafe(32))
    with ctx.db.session() as session:
        session.add(row)
    return row


def list_webhooks(ctx: Context, owner_id: str) -> list[Webhook]:
    with ctx.db.session() as session:
        return list(session.scalars(
            select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.created_at.desc(), Webhook.id.desc())))


def get_webhook(ctx: Context, owner_id: str, webhook_id: str) -> Webhook:
    with ctx.db.session() as session:
        return load_owned(session, Webhook, webhook_id, owner_id, "webhook")


def delete_webhook(ctx: Context, owner_id: str, webhook_id: str) -> None:
    """Delete the webhook and its delivery log; pending deliveries are dropped with it."""
    with ctx.db.session() as session:
        row = load_owned(session, Webhook, webhook_id, owner_id, "webhook")
        session.execute(sa_delete(WebhookDelivery).where(WebhookDelivery.webhook_id == row.id))
        session.delete(row)


def list_deliveries(
    ctx: Context, owner_id: str, webhook_id: str, offset: int, limit: int
) -> tuple[list[WebhookDelivery], int]:
    """The webhook's delivery log, newest first, and its total size."""
    with ctx.db.session() as session:
        load_owned(session, Webhook, webhook_id, owner_id, "webhook")
        where = WebhookDelivery.webhook_id == webhook_id
        total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
        rows = session.scalars(select(WebhookDelivery).where(where)
                               .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                               .offset(offset).limit(limit)).all()
    return list(rows), total


def queue_status_change(session: Session, row: Alignment, previous: str | None) -> None:
    """Add one delivery per webhook of the alignment's owner, in the caller's transaction."""
    hooks = session.scalars(select(Webhook.id).where(Webhook.owner_id == row.owner_id)).all()
    now = utcnow()
    for hook_id in hooks:
        delivery_id = new_id("delivery")
        payload = {
            "id": delivery_id, "type": STATUS_CHANGED, "created_at": now.isoformat(),
            "data": {"alignment_id": row.id, "name": row.name, "status": row.status, "previous_status": previous,
                     "stage": row.stage, "error": row.error, "model_id": row.model_id,
                     "evaluation_id": row.evaluation_id},
        }
        session.add(WebhookDelivery(id=delivery_id, webhook_id=hook_id, event=STATUS_CHANGED, payload=payload,
                                    next_attempt_at=now, created_at=now))


def track_status_changes(ctx: Context) -> None:
    """Queue deliveries for every alignment whose status a flush of this database changes."""

    def before_flush(session: Session, _flush: Any, _instances: Any) -> None:
        for row in [*session.new, *session.dirty]:
            if not isinstance(row, Alignment):
                continue
            history = inspect(row).attrs.status.history
            previous = history.deleted[0] if history.deleted else None
            if row in session.new or (history.added and history.added[0] != previous):
                queue_status_change(session, row, previous)

    ctx.db.on_session("before_flush", before_flush)


class WebhookSender:
    """Posts due deliveries from a background thread, one at a time."""

    def __init__(self, ctx: Context, poll_s: float = 0.5) -> None:
        self.ctx, self.poll_s = ctx, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=ctx.settings.webhook_timeout_s, follow_redirects=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ctx.settings.webhook_timeout_s + 5)
        self._http.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:  # a database hiccup must not kill the thread
                log.exception("webhook sender")
                sent = 0
            if not sent:
                self._stop.wait(self.poll_s)

    def run_once(self, limit: int = 20) -> int:
        """Claim and send up to ``limit`` due deliveries; return how many were attempted."""
        now = utcnow()
        free = or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now)
        with self.ctx.db.session() as session:
            due = session.scalars(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, free,
            ).order_by(WebhookDelivery.created_at).limit(limit)).all()
        attempted = 0
        for delivery_id in due:
            if self._stop.is_set():
                break
            if self._claim(delivery_id, now, free):
                self._send(delivery_id)
                attempted += 1
        return attempted

    def _claim(self, delivery_id: str, now: Any, free: Any) -> bool:
        """Compare-and-set, so two processes never post the same delivery at once."""
        lease = now + timedelta(seconds=2 * self.ctx.settings.webhook_timeout_s + 5)
        with self.ctx.db.session() as session:
            return session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                                              free)
                .values(claimed_until=lease).execution_options(synchronize_session=False)
            ).rowcount == 1

    def _send(self, delivery_id: str) -> None:
        with self.ctx.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id)
            body, event, url, secret = json.dumps(delivery.payload).encode(), delivery.event, hook.url, hook.secret
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", EVENT_HEADER: event, DELIVERY_HEADER: delivery_id,
                   TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}
        code: int | None = None
        try:
            response = self._http.post(url, content=body, headers=headers)
            code, error = response.status_code, None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        settings = self.ctx.settings
        with self.ctx.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:  # the webhook was deleted meanwhile
                return
            delivery.attempts += 1
            delivery.last_status_code, delivery.last_error, delivery.claimed_until = code, error, None
            if error is None:
                delivery.status, delivery.delivered_at = "delivered", utcnow()
            elif delivery.attempts >= settings.webhook_max_attempts:
                delivery.status = "failed"
            else:
                wait = min(MAX_BACKOFF_S, settings.webhook_retry_s * 2 ** (delivery.attempts - 1))
                delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
