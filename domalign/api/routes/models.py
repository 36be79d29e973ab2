from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.models import AlignedModelList, AlignedModelOut, BaseModelList, BaseModelOut, DeploymentStatus
from domalign.workflow import deployments, exports
from domalign.workflow.catalog import list_base_models
from domalign.workflow.exports import ExportFormat

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/base")
def base_models(ctx: Ctx, _user: CurrentUser) -> BaseModelList:
    return BaseModelList(models=[
        BaseModelOut(id=m.id, name=m.name, parameters=m.parameters, alignment_ready=m.alignment_ready,
                     source=m.source)
        for m in list_base_models(ctx)
    ])


@router.get("/aligned")
def aligned_models(ctx: Ctx, user: CurrentUser) -> AlignedModelList:
    return AlignedModelList(models=[AlignedModelOut.of(m) for m in deployments.list_aligned_models(ctx, user.id)])


def _operation_routes(action: Literal["deploy", "undeploy"]) -> None:
    @router.post(f"/{action}-model/{{model_id}}", status_code=status.HTTP_202_ACCEPTED, name=f"{action}_model")
    def start(ctx: Ctx, user: CurrentUser, model_id: str, request: Request) -> DeploymentStatus:
        return DeploymentStatus.of(deployments.request(ctx, request.app.state.engine, user.id, model_id, action))

    @router.get(f"/{action}-model/{{model_id}}/status", name=f"{action}_model_status")
    def op_status(ctx: Ctx, user: CurrentUser, model_id: str) -> DeploymentStatus:
        return DeploymentStatus.of(deployments.get_operation(ctx, user.id, model_id, action))


@router.get("/{model_id}/download", response_class=FileResponse, responses={200: {"content": {
    "application/x-tar": {}, "application/octet-stream": {}}}})
def download_model(
    ctx: Ctx, user: CurrentUser, model_id: str,
    fmt: Annotated[ExportFormat, Query(alias="format", description="adapter | merged | gguf")] = "adapter",
) -> FileResponse:
    """The PEFT adapter or the merged model (tar archives), or a GGUF file; built on first request."""
    path = exports.export_model(ctx, user.id, model_id, fmt)
    media = "application/octet-stream" if fmt == "gguf" else "application/x-tar"
    return FileResponse(path, media_type=media, filename=path.name)


_operation_routes("deploy")
_operation_routes("undeploy")
