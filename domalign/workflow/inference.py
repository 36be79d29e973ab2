"""Chat use cases: which model a request names, and running it (whole or streamed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from domalign.domain import Chunk
from domalign.errors import BadRequest, NotFound
from domalign.retrieval import BM25Index, grounded_question
from domalign.store.tables import AlignedModel
from domalign.workflow.catalog import list_base_models
from domalign.workflow.context import Context
from domalign.workflow.deployments import list_aligned_models
from domalign.workflow.documents import load_chunks, require_ready_documents
from domalign.workflow.job import artifact_key


@dataclass(frozen=True)
class ChatTarget:
    name: str
    base_id: str
    adapter_id: str | None  # None: the base model itself
    alignment_id: str | None = None  # the alignment that made the adapter (its documents ground answers)
    grounded: bool = False  # passages are in the prompt: an adapter answers at its grounded scale
    closed_book: Any = None  # a grounded request's params before the passages went in (the memory view)


@dataclass(frozen=True)
class Citation:
    """A passage put in front of the question of a grounded request."""

    chunk_id: str
    document_id: str
    score: float
    text: str


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
        engine.add_adapter(model.base_model, model.id, ctx.blobs.fetch(model.adapter_key))
    return ChatTarget(name, model.base_model, model.id, model.alignment_id)


def ground(
    ctx: Context, engine: Any, owner_id: str, target: ChatTarget, params: Any, document_ids: list[str] | None, k: int
) -> tuple[ChatTarget, Any, list[Citation]]:
    """Put the ``k`` passages BM25 ranks best for the last user message in front of it, as evaluation does.

    The passages come from ``document_ids`` when given (the user's own, else
    404), otherwise from the documents the aligned model was trained on; a base
    model has none, so it needs ``document_ids``. The lowest-ranked passages are
    dropped until the prompt fits the context (truncation would cut the best one
    first), and only the passages sent are cited. With no passage found the
    question goes as it is. The target comes back marked grounded when passages went in.
    """
    from domalign.serve.chat import context_length, prompt_ids

    chunks = _grounding_chunks(ctx, owner_id, target, document_ids)
    last = max((i for i, m in enumerate(params.messages) if m["role"] == "user"), default=None)
    if last is None:
        raise BadRequest("a grounded request needs a user message to retrieve passages for")
    question = params.messages[last]["content"]
    hits = BM25Index(chunks).search(question, k=k)
    tokenizer, context = engine.tokenizer(target.base_id), context_length(engine.config(target.base_id))
    while hits:
        messages = list(params.messages)
        messages[last] = {**messages[last], "content": grounded_question(question, [c.text for c, _ in hits])}
        grounded = replace(params, messages=messages)
        if not prompt_ids(tokenizer, grounded, context)[2]:
            cited = [Citation(c.id, c.document_id, round(score, 4), c.text) for c, score in hits]
            return replace(target, grounded=True, closed_book=params), grounded, cited
        hits = hits[:-1]
    return target, params, []


def _grounding_chunks(ctx: Context, owner_id: str, target: ChatTarget, document_ids: list[str] | None) -> list[Chunk]:
    if document_ids:
        require_ready_documents(ctx, owner_id, document_ids)
        return load_chunks(ctx, document_ids)
    if target.alignment_id is None:
        raise BadRequest(
            f"model '{target.name}' is a base model with no documents of its own; "
            "pass document_ids to ground its answers in your documents"
        )
    key = artifact_key(target.alignment_id, "chunks.jsonl")
    return [Chunk(**row) for row in ctx.blobs.read_jsonl(key)] if ctx.blobs.exists(key) else []


def check(engine: Any, target: ChatTarget, params: Any) -> None:
    """Refuse a bad request before any streaming starts (max_tokens beyond the context is a 400)."""
    from domalign.serve.chat import context_length, prompt_ids

    prompt_ids(engine.tokenizer(target.base_id), params, context_length(engine.config(target.base_id)))


def complete(engine: Any, target: ChatTarget, params: Any) -> Any:
    """The whole answer (batched with whatever else arrives for the same base model)."""
    return engine.submit(target.base_id, _request(target, params)).result()


def _request(target: ChatTarget, params: Any, streamer: Any = None) -> Any:
    """The engine's request; a grounded one carries its closed-book params for the memory view."""
    from domalign.serve.batching import Request

    return Request(target.adapter_id, params, streamer=streamer, grounded=target.grounded,
                   closed_book=target.closed_book)


class Stream:
    """Text pieces as they are generated; ``result`` once done. Closing it stops generation."""

    def __init__(self, engine: Any, target: ChatTarget, params: Any) -> None:
        from transformers import TextIteratorStreamer

        if params.n != 1:
            raise BadRequest("streaming supports n=1 only; drop n or stream=false")
        self.result: Any = None
        self._stops = params.stop
        streamer = TextIteratorStreamer(engine.tokenizer(target.base_id), skip_prompt=False,
                                        skip_special_tokens=True)  # the batcher sends new tokens only
        self._request = _request(target, params, streamer)
        self.cancel = self._request.cancel
        self._future = engine.submit(target.base_id, self._request)

    def pieces(self) -> Iterator[str]:
        """Generated text, held back just enough that a stop string is never sent."""
        keep = max((len(s) for s in self._stops), default=1) - 1
        pending = ""
        try:
            for piece in self._request.streamer:
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
            self.cancel.set()  # a stop string (or a client that went away) frees the row at the next token
        self.result = self._future.result()  # raises what generation raised
