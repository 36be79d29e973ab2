"""Load a base model and its tokenizer from a folder, a GGUF file or a hub id.

GGUF files are quantized; transformers dequantizes them on every load, which
takes seconds and the whole file's worth of CPU. So the first load of a GGUF
writes the dequantized model as an ordinary Hugging Face folder under
``cache_dir`` (keyed by the file's path, size and mtime, so a replaced file is
re-converted) and later loads are plain ``from_pretrained`` calls on it.

Nothing here keeps a model alive: the caller owns every model it loads.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from domalign.errors import InvalidInput
from domalign.store.atomic import atomic_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SourceKind = Literal["folder", "gguf", "hub"]
DTYPES = ("float32", "bfloat16", "float16")
# "name" or "owner/name"; anything else (a leading "/", ".", "~", deeper paths) is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class ModelSource:
    """Where a base model comes from: a local HF folder, a local GGUF file, or a hub id."""

    kind: SourceKind
    location: str

    @property
    def path(self) -> Path:
        """The local path; only meaningful for ``folder`` and ``gguf`` sources."""
        return Path(self.location)


def resolve_source(source: str) -> ModelSource:
    """Classify ``source`` and check that a local path holds a model, so mistakes fail early."""
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise InvalidInput(
                f"{source} is a file but not a .gguf model; pass a .gguf file or a "
                "Hugging Face model folder (one with config.json)"
            )
        return ModelSource("gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidInput(
                f"folder {source} holds no config.json, so it is not a Hugging Face model; "
                "point to the folder that holds config.json and the weights, or to a .gguf file"
            )
        return ModelSource("folder", str(path.resolve()))
    if source.lower().endswith(".gguf") or not _HUB_ID.match(source):
        raise InvalidInput(
            f"model path {source} does not exist; check the path, or give a hub id "
            "such as HuggingFaceTB/SmolLM2-135M-Instruct"
        )
    return ModelSource("hub", source)


_LOAD_LOCK = threading.Lock()
"""One model load at a time in a process: transformers' lazy imports and ``from_pretrained``'s
process-wide switches (default dtype, skipped weight initialization) are not thread-safe. Two jobs
loading side by side failed with "cannot import name 'AutoModelForCausalLM'", and trained to a
NaN loss from weights one thread left uninitialized while the other loaded."""


def load_base_model(
    source: str, *, cache_dir: Path, dtype: str = "float32"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``source`` in ``dtype`` (eval mode) with a tokenizer whose ``pad_token`` is set."""
    torch_dtype = _torch_dtype(dtype)
    resolved = resolve_source(source)
    with _LOAD_LOCK:
        if resolved.kind == "gguf":
            model, tokenizer = _load_gguf(resolved.path, Path(cache_dir), torch_dtype)
        else:
            model, tokenizer = _load_pretrained(resolved.location, torch_dtype)
    _ensure_pad_token(model, tokenizer)
    model.eval()
    return model, tokenizer


def gguf_cache_key(path: Path) -> str:
    """A key that changes when the file at ``path`` is replaced or rewritten."""
    stat = path.stat()
    raw = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _torch_dtype(dtype: str):
    import torch

    if dtype not in DTYPES:
        raise InvalidInput(f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def _load_pretrained(location: str, torch_dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype)
    except (OSError, ValueError) as exc:  # missing files / unknown architecture
        raise InvalidInput(
            f"could not load model {location}: {exc}; check the id or path, or download "
            "the model into a local folder and pass that folder"
        ) from exc
    return model, tokenizer


def _load_gguf(path: Path, cache_dir: Path, torch_dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Use the dequantized copy in the cache; build it first if it is missing."""
    target = cache_dir / gguf_cache_key(path)
    if target.is_dir():
        return _load_pretrained(str(target), torch_dtype)
    model, tokenizer = _dequantize(path)
    _write_cache(model, tokenizer, target)
    return model.to(torch_dtype), tokenizer


def _dequantize(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Unpack every weight into a dense float32 model that can be trained and saved.

    ``dequantize=True`` also drops the GGUF quantizer from the model; without it
    transformers keeps the model marked as quantized and refuses to save it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent),
            gguf_file=path.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InvalidInput(
            f"could not read GGUF file {path}: {exc}; transformers reads llama-style GGUF "
            "models only, so convert the model to a Hugging Face folder and pass that instead"
        ) from exc
    return model, tokenizer


def _write_cache(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path) -> None:
    """Save atomically, so a concurrent or later reader never sees half a model."""
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def _ensure_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Batching needs a pad token; eos is the usual stand-in because padding is masked out."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InvalidInput(
                "the model's tokenizer has neither a pad nor an eos token; "
                "add one to tokenizer_config.json"
            )
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
