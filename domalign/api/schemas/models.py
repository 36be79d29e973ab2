from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from domalign.api.schemas import iso
from domalign.store.tables import AlignedModel, DeploymentOp


class BaseModelOut(BaseModel):
    id: str
    name: str
    parameters: int | None
    alignment_ready: bool
    source: str


class BaseModelList(BaseModel):
    models: list[BaseModelOut]


class AlignedModelOut(BaseModel):
    id: str
    alignment_id: str
    base_model: str
    deployment_status: Literal["DEPLOYED", "UNDEPLOYED", "DEPLOYING", "UNDEPLOYING"]
    created_at: str

    @classmethod
    def of(cls, row: AlignedModel) -> AlignedModelOut:
        return cls(id=row.id, alignment_id=row.alignment_id, base_model=row.base_model,
                   deployment_status=row.deployment_status, created_at=iso(row.created_at))


class AlignedModelList(BaseModel):
    models: list[AlignedModelOut]


class DeploymentStatus(BaseModel):
    id: str
    model_id: str
    action: Literal["deploy", "undeploy"]
    status: Literal["PENDING", "COMPLETED", "FAILED"]
    result: dict | None
    start_time: str
    end_time: str | None

    @classmethod
    def of(cls, row: DeploymentOp) -> DeploymentStatus:
        return cls(id=row.id, model_id=row.model_id, action=row.action, status=row.status, result=row.result,
                   start_time=iso(row.start_time), end_time=iso(row.end_time))
