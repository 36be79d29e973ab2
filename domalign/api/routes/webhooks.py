from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)
from domalign.workflow import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(ctx: Ctx, user: CurrentUser, body: WebhookCreate) -> WebhookCreated:
    row = webhooks.create_webhook(ctx, user.id, str(body.url), body.secret)
    return WebhookCreated(**WebhookOut.of(row).model_dump(), secret=row.secret)


@router.get("")
def list_webhooks(ctx: Ctx, user: CurrentUser) -> WebhookList:
    return WebhookList(webhooks=[WebhookOut.of(row) for row in webhooks.list_webhooks(ctx, user.id)])


@router.get("/{webhook_id}")
def get_webhook(ctx: Ctx, user: CurrentUser, webhook_id: str) -> WebhookOut:
    return WebhookOut.of(webhooks.get_webhook(ctx, user.id, webhook_id))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(ctx: Ctx, user: CurrentUser, webhook_id: str) -> None:
    webhooks.delete_webhook(ctx, user.id, webhook_id)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    ctx: Ctx, user: CurrentUser, webhook_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveryList:
    rows, total = webhooks.list_deliveries(ctx, user.id, webhook_id, offset, limit)
    return DeliveryList(deliveries=[DeliveryOut.of(r) for r in rows], total=total, offset=offset, limit=limit)
