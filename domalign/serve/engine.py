"""The serving engine: one copy of each base model in memory, every deployed adapter beside it.

Adapters of one base share its weights inside a single PEFT model. Requests go
to the base's batcher (``batching``), which runs those that arrive together in
one ``generate`` call, each row with its own adapter (PEFT's ``adapter_names``),
so a request can never answer with another's adapter. Loading and removing an
adapter take the base's lock, as each batch does. Different bases run in parallel.

Weights are served in bf16 where the hardware computes it natively (``precision``
``auto``, as in training): decoding reads every weight for each token, so half
the bytes is about twice the tokens per second for one stream, and batched rows
get the bf16 matrix units. The engine's copy of a base is its own, so casting it
touches no other user of the model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domalign.corpus_words import CorpusWords
from domalign.declines import may_decline
from domalign.errors import NotFound
from domalign.models.adapter_scale import GROUNDED_TWIN, has_twin
from domalign.routing import about_corpus, routes_general
from domalign.serve.batching import Batcher, Request, run_batch
from domalign.serve.chat import Memory

log = logging.getLogger(__name__)


@dataclass
class LoadedBase:
    model: Any  # a PeftModel once an adapter is loaded, the plain model before
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapters: set[str] = field(default_factory=set)
    grounded_scales: dict[str, float] = field(default_factory=dict)  # adapter -> grounded_adapter_scale
    memory_weights: dict[str, float] = field(default_factory=dict)  # adapter -> grounded_memory_weight
    corpora: dict[str, CorpusWords] = field(default_factory=dict)  # adapter -> its corpus's words, where saved
    routing: set[str] = field(default_factory=set)  # adapters whose general questions the base model answers
    batcher: Batcher | None = None

    def run(self, batch: list[Request]) -> None:
        """One batch, under the lock; a request whose adapter went away meanwhile gets a 404."""
        with self.lock:
            ready = []
            for request in batch:
                if request.adapter_id is None or request.adapter_id in self.adapters:
                    ready.append(request)
                    continue
                request.future.set_exception(NotFound(f"model '{request.adapter_id}' is not deployed"))
                if request.streamer is not None:
                    request.streamer.end()
            if ready:
                for request in ready:  # before the futures resolve: the response tells it
                    request.routed_to_base = self._general(request)
                run_batch(self.model, self.tokenizer, ready, [self._peft_name(r) for r in ready],
                          [self._memory(r) for r in ready], [self._guarded(r) for r in ready])

    @staticmethod
    def _question(request: Request) -> str:
        """The last user message, without any passages a grounded request put in front of it."""
        messages = (request.closed_book or request.params).messages
        return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")

    def _general(self, request: Request) -> bool:
        """A question that is not about the adapter's corpus goes to the base model, where the alignment routes
        them (:mod:`domalign.routing`)."""
        corpus = self.corpora.get(request.adapter_id or "")
        return request.adapter_id in self.routing and corpus is not None and \
            not about_corpus(self._question(request), corpus)

    def _guarded(self, request: Request) -> bool:
        """An adapter that learned to decline may decline only a question naming a word its corpus never uses (a
        routed question is the base model's, which never learned to)."""
        corpus = self.corpora.get(request.adapter_id or "")
        return corpus is not None and corpus.declines and not request.routed_to_base and \
            not may_decline(self._question(request), corpus.words)

    def _memory(self, request: Request) -> Memory | None:
        """A grounded request to an aligned model also answers closed-book, fused in at the adapter's weight."""
        weight = self.memory_weights.get(request.adapter_id or "", 0.0)
        if request.routed_to_base or not request.grounded or request.closed_book is None or weight <= 0.0:
            return None
        return Memory(request.closed_book, request.adapter_id, weight)

    def _peft_name(self, request: Request) -> str | None:
        """The adapter a request's rows run with: a grounded one reads at the adapter's grounded scale, which
        at 0 is the base model (None) and between 0 and 1 the adapter's scaled twin; a routed one, the base model."""
        if request.routed_to_base:
            return None
        scale = self.grounded_scales.get(request.adapter_id or "", 1.0)
        if not request.grounded or scale == 1.0:
            return request.adapter_id
        return None if scale == 0.0 else request.adapter_id + GROUNDED_TWIN


class ServingEngine:
    """Owns the models the server answers with; created by the app factory, never global."""

    def __init__(
        self, load_base: Callable[[str], tuple[Any, Any]], *, batch_window_s: float = 0.01,
        batch_max_wait_s: float = 0.1, max_batch: int = 16, precision: str = "auto",
    ) -> None:
        self._load_base, self.precision = load_base, precision
        self.batch_max_wait_s = batch_max_wait_s
        self._bases: dict[str, LoadedBase] = {}
        self._guard = threading.Lock()
        self.batch_window_s, self.max_batch = batch_window_s, max_batch

    def _base(self, base_id: str) -> LoadedBase:
        with self._guard:
            if base_id not in self._bases:
                import torch

                from domalign.models.precision import use_bf16

                model, tokenizer = self._load_base(base_id)
                model.eval()
                if use_bf16(self.precision, next(model.parameters()).device):
                    model.to(torch.bfloat16)
                log.info("serving %s in %s", base_id, next(model.parameters()).dtype)
                base = LoadedBase(model, tokenizer)
                base.batcher = Batcher(base.run, window_s=self.batch_window_s, max_wait_s=self.batch_max_wait_s,
                                       max_batch=self.max_batch, name=base_id)
                self._bases[base_id] = base
            return self._bases[base_id]

    def submit(self, base_id: str, request: Request) -> Future:
        """Queue a chat request for ``base_id``; the future holds its ChatResult."""
        return self._base(base_id).batcher.submit(request)

    def close(self) -> None:
        for base in self._bases.values():
            base.batcher.close()

    def add_adapter(self, base_id: str, adapter_id: str, adapter_dir: Path) -> None:
        """Load an adapter next to its base (idempotent), and its grounded twin when its grounded scale is
        strictly between 0 and 1."""
        from peft import PeftModel

        from domalign.models.adapter_scale import grounded_memory_weight, grounded_scale, set_lora_scale

        base = self._base(base_id)
        with base.lock:
            if adapter_id in base.adapters:
                return
            if isinstance(base.model, PeftModel):
                base.model.load_adapter(str(adapter_dir), adapter_name=adapter_id)
            else:
                base.model = PeftModel.from_pretrained(base.model, str(adapter_dir), adapter_name=adapter_id)
            scale = grounded_scale(adapter_dir)
            if has_twin(scale):
                base.model.load_adapter(str(adapter_dir), adapter_name=adapter_id + GROUNDED_TWIN)
                set_lora_scale(base.model, adapter_id + GROUNDED_TWIN, scale)
            base.grounded_scales[adapter_id] = scale
            base.memory_weights[adapter_id] = grounded_memory_weight(adapter_dir)
            if (corpus := CorpusWords.load(adapter_dir)) is not None:
                base.corpora[adapter_id] = corpus
            if routes_general(adapter_dir):
                base.routing.add(adapter_id)
            base.model.to(base.model.get_base_model().dtype)  # PEFT loads adapters in fp32 on a bf16 base
            base.model.eval()
            base.adapters.add(adapter_id)

    def remove_adapter(self, base_id: str, adapter_id: str) -> None:
        """Free an adapter's weights; the base stays loaded for its other adapters and base requests."""
        base = self._bases.get(base_id)
        if base is None:
            return
        with base.lock:
            if adapter_id not in base.adapters:  # never loaded, or removed meanwhile
                return
            base.adapters.discard(adapter_id)
            scale = base.grounded_scales.pop(adapter_id)
            names = [adapter_id] + ([adapter_id + GROUNDED_TWIN] if has_twin(scale) else [])
            base.memory_weights.pop(adapter_id, None)
            base.corpora.pop(adapter_id, None)
            base.routing.discard(adapter_id)
            if base.adapters:
                if base.model.active_adapter in names:
                    base.model.set_adapter(next(iter(base.adapters)))
                for name in names:
                    base.model.delete_adapter(name)
            else:
                base.model = base.model.unload()  # back to the plain base model

    def tokenizer(self, base_id: str) -> Any:
        return self._base(base_id).tokenizer

    def config(self, base_id: str) -> Any:
        return self._base(base_id).model.config

    def has_adapter(self, base_id: str, adapter_id: str) -> bool:
        base = self._bases.get(base_id)
        return base is not None and adapter_id in base.adapters
