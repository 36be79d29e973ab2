"""The serving engine: one copy of each base model in memory, every deployed adapter beside it.

Adapters of one base share its weights inside a single PEFT model; a request
selects its adapter under the base's lock, so two requests can never answer
with each other's adapter. Requests to different bases run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domalign.errors import NotFound


@dataclass
class LoadedBase:
    model: Any  # a PeftModel once an adapter is loaded, the plain model before
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapters: set[str] = field(default_factory=set)


class ServingEngine:
    """Owns the models the server answers with; created by the app factory, never global."""

    def __init__(self, load_base: Callable[[str], tuple[Any, Any]]) -> None:
        self._load_base = load_base
        self._bases: dict[str, LoadedBase] = {}
        self._guard = threading.Lock()

    def _base(self, base_id: str) -> LoadedBase:
        with self._guard:
            if base_id not in self._bases:
                model, tokenizer = self._load_base(base_id)
                model.eval()
                self._bases[base_id] = LoadedBase(model, tokenizer)
            return self._bases[base_id]

    def add_adapter(self, base_id: str, adapter_id: str, adapter_dir: Path) -> None:
        """Load an adapter next to its base (idempotent)."""
        from peft import PeftModel

        base = self._base(base_id)
        with base.lock:
            if adapter_id in base.adapters:
                return
            if isinstance(base.model, PeftModel):
                base.model.load_adapter(str(adapter_dir), adapter_name=adapter_id)
            else:
                base.model = PeftModel.from_pretrained(base.model, str(adapter_dir), adapter_name=adapter_id)
            base.model.eval()
            base.adapters.add(adapter_id)

    def remove_adapter(self, base_id: str, adapter_id: str) -> None:
        """Free an adapter's weights; the base stays loaded for its other adapters and base requests."""
        base = self._bases.get(base_id)
        if base is None or adapter_id not in base.adapters:
            return
        with base.lock:
            base.adapters.discard(adapter_id)
            if base.adapters:
                if base.model.active_adapter == adapter_id:
                    base.model.set_adapter(next(iter(base.adapters)))
                base.model.delete_adapter(adapter_id)
            else:
                base.model = base.model.unload()  # back to the plain base model

    def tokenizer(self, base_id: str) -> Any:
        return self._base(base_id).tokenizer

    def config(self, base_id: str) -> Any:
        return self._base(base_id).model.config

    def has_adapter(self, base_id: str, adapter_id: str) -> bool:
        base = self._bases.get(base_id)
        return base is not None and adapter_id in base.adapters

    @contextmanager
    def using(self, base_id: str, adapter_id: str | None) -> Iterator[tuple[Any, Any]]:
        """Hold the base's lock with ``adapter_id`` active (or every adapter off) for one generation."""
        base = self._base(base_id)
        with base.lock:
            if adapter_id is not None:
                if adapter_id not in base.adapters:
                    raise NotFound(f"model '{adapter_id}' is not deployed")
                base.model.set_adapter(adapter_id)
                yield base.model, base.tokenizer
            elif base.adapters:
                with base.model.disable_adapter():
                    yield base.model, base.tokenizer
            else:
                yield base.model, base.tokenizer
