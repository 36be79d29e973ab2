from __future__ import annotations

from pydantic import BaseModel


class BaseModelOut(BaseModel):
    id: str
    name: str
    parameters: int | None
    alignment_ready: bool
    source: str


class BaseModelList(BaseModel):
    models: list[BaseModelOut]
