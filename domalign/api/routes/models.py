from __future__ import annotations

from fastapi import APIRouter

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.models import BaseModelList, BaseModelOut
from domalign.workflow.catalog import list_base_models

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/base")
def base_models(ctx: Ctx, _user: CurrentUser) -> BaseModelList:
    return BaseModelList(models=[
        BaseModelOut(id=m.id, name=m.name, parameters=m.parameters, alignment_ready=m.alignment_ready,
                     source=m.source)
        for m in list_base_models(ctx)
    ])
