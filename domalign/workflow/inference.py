"""Chat use cases: which model a request names, and running it (whole or streamed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from domalign.errors import BadRequest, NotFound
from domalign.store.tables import AlignedModel
from domalign.workflow.catalog import list_base_models
from domalign.workflow.context import Context
from domalign.workflow.deployments import list_aligned_models


@dataclass(frozen=True)
class ChatTarget:
    name: str
    base_id: str
    adapter_id: str | None  # None: the base model itself


def chat_models(ctx: Context, owner_id: str) -> list[tuple[str, str]]:
    """(model id, owner) of every model this user can chat with: the catalog and their deployed models."""
    bases = [(m.id, "domalign") for m in list_base_models(ctx) if m.alignment_ready]
    return bases + [(m.id, owner_id) for m in list_aligned_models(ctx, owner_id) if m.deployment_status == "DEPLOYED"]


def resolve(ctx: Context, engine: Any, owner_id: str, name: str) -> ChatTarget:
    """The base or deployed aligned model ``name``, loaded; 404 naming it otherwise."""
    if any(m.id == name and m.alignment_ready for m in list_base_models(ctx)):
        return ChatTarget(name, name, None)
    with ctx.db.session() as session:
        model = session.get(AlignedModel, name)
    if model is None or model.owner_id != owner_id or model.deployment_status != "DEPLOYED":
        raise NotFound(f"model '{name}' does not exist or is not deployed; GET /v1/models lists the models you can use")
    if not engine.has_adapter(model.base_model, model.id):  # deployed before a restart: load it again
        engine.add_adapter(model.base_model, model.id, ctx.blobs.path(model.adapter_key))
    return ChatTarget(name, model.base_model, model.id)


def check(engine: Any, target: ChatTarget, params: Any) -> None:
    """Refuse a bad request before any streaming starts (max_tokens beyond the context is a 400)."""
    from domalign.serve.chat import context_length, prompt_ids

    prompt_ids(engine.tokenizer(target.base_id), params, context_length(engine.config(target.base_id)))


def complete(engine: Any, target: ChatTarget, params: Any) -> Any:
    from domalign.serve.chat import generate

    with engine.using(target.base_id, target.adapter_id) as (model, tokenizer):
        return generate(model, tokenizer, params)


class Stream:
    """Text pieces as they are generated; ``result`` once done. Closing it stops generation."""

    def __init__(self, engine: Any, target: ChatTarget, params: Any) -> None:
        from transformers import TextIteratorStreamer

        if params.n != 1:
            raise BadRequest("streaming supports n=1 only; drop n or stream=false")
        self.cancel = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._stops = params.stop
        self._streamer = TextIteratorStreamer(engine.tokenizer(target.base_id), skip_prompt=True,
                                              skip_special_tokens=True)
        self._thread = threading.Thread(target=self._run, args=(engine, target, params), daemon=True)
        self._thread.start()

    def _run(self, engine: Any, target: ChatTarget, params: Any) -> None:
        from domalign.serve.chat import generate

        try:
            with engine.using(target.base_id, target.adapter_id) as (model, tokenizer):
                self.result = generate(model, tokenizer, params, streamer=self._streamer, cancel=self.cancel)
        except BaseException as exc:  # handed to the reader
            self.error = exc
            self._streamer.end()

    def pieces(self) -> Iterator[str]:
        """Generated text, held back just enough that a stop string is never sent."""
        keep = max((len(s) for s in self._stops), default=1) - 1
        pending = ""
        try:
            for piece in self._streamer:
                pending += piece
                cut = min((pending.find(s) for s in self._stops if s in pending), default=-1)
                if cut >= 0:
                    if cut:
                        yield pending[:cut]
                    pending = ""
                    break
                if len(pending) > keep:
                    yield pending[: len(pending) - keep]
                    pending = pending[len(pending) - keep:]
            if pending:
                yield pending
        finally:
            self.cancel.set()  # a client that went away frees the model at the next token
            self._thread.join()
        if self.error is not None:
            raise self.error
