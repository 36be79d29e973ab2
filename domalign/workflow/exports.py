"""Downloads of an aligned model: its LoRA adapter, the merged model, or a GGUF file.

Each is built on first request from a fresh copy of the base model (never the
one the server or worker holds: merging rewrites weights) and kept in the blob
store under ``exports/<model_id>/``, so later downloads are a plain file read.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Literal

from domalign.store.atomic import atomic_dir
from domalign.store.tables import AlignedModel
from domalign.workflow.catalog import get_base_model, load_catalog_model
from domalign.workflow.context import Context
from domalign.workflow.ownership import load_owned

ExportFormat = Literal["adapter", "merged", "gguf"]
FILENAMES = {"adapter": "{id}-adapter.tar", "merged": "{id}-merged.tar", "gguf": "{id}.gguf"}


def export_model(ctx: Context, owner_id: str, model_id: str, fmt: ExportFormat) -> Path:
    """The export file, built once; 404 for an unknown or foreign model."""
    with ctx.db.session() as session:
        model = load_owned(session, AlignedModel, model_id, owner_id, "model")
    key = f"exports/{model_id}/{fmt}"
    folder = ctx.blobs.fetch(key)
    target = folder / FILENAMES[fmt].format(id=model_id)
    if target.exists():
        return target
    adapter = ctx.blobs.fetch(model.adapter_key)
    with atomic_dir(folder) as work:
        out = work / target.name
        if fmt == "adapter":
            _tar(out, adapter, "adapter")
        else:
            merged = work / "merged"
            _merge(ctx, model.base_model, adapter, merged)
            if fmt == "merged":
                _tar(out, merged, "merged")
            else:
                _gguf(ctx, model, merged, out)
            shutil.rmtree(merged)
    ctx.blobs.publish(key)
    return target


def _merge(ctx: Context, base_id: str, adapter: Path, target: Path) -> None:
    from domalign.models.export import merge_adapter, save_merged

    base, tokenizer = load_catalog_model(ctx, base_id)
    save_merged(merge_adapter(base, adapter), tokenizer, target)


def _gguf(ctx: Context, model: AlignedModel, merged: Path, out: Path) -> None:
    from domalign.models.export import write_gguf

    source = Path(get_base_model(ctx, model.base_model).source)
    write_gguf(merged, out, name=model.id, tokenizer_pre=_tokenizer_pre(source))


def _tokenizer_pre(source: Path) -> str:
    """Keep a GGUF base model's pre-tokenizer name (llama.cpp picks its split rules by it)."""
    if source.suffix != ".gguf":
        return "default"
    from gguf import GGUFReader

    field = GGUFReader(str(source)).fields.get("tokenizer.ggml.pre")
    return field.contents() if field is not None else "default"


def _tar(out: Path, folder: Path, arcname: str) -> None:
    """An uncompressed tar (safetensors barely compress), entries under ``arcname/``."""
    with tarfile.open(out, "w") as archive:
        archive.add(folder, arcname=arcname)
