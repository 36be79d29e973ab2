"""Webhook schemas: registration, listing, and the delivery log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from domalign.api.schemas import iso
from domalign.store.tables import Webhook, WebhookDelivery


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where the signed JSON events are POSTed (http or https).")
    secret: str | None = Field(
        default=None, min_length=16, max_length=200,
        description="HMAC-SHA256 key of the X-Domalign-Signature header; generated when left out.",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    created_at: str

    @classmethod
    def of(cls, row: Webhook) -> WebhookOut:
        return cls(id=row.id, url=row.url, created_at=iso(row.created_at))


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown only in this response: keep it to verify signatures.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    next_attempt_at: str | None = Field(description="When a pending delivery is tried next.")
    delivered_at: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        return cls(id=row.id, event=row.event, status=row.status, attempts=row.attempts,
                   last_status_code=row.last_status_code, last_error=row.last_error, created_at=iso(row.created_at),
                   next_attempt_at=iso(row.next_attempt_at) if row.status == "pending" else None,
                   delivered_at=iso(row.delivered_at), payload=row.payload)


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    total: int
    offset: int
    limit: int
