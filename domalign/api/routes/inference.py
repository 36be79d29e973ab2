"""OpenAI-compatible chat completions: under /api/v3/inference and at /v1 for the official client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.openai import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    Citation,
    ModelCard,
    ModelListing,
    ResponseMessage,
    Usage,
)
from domalign.serve.chat import ChatParams
from domalign.workflow import inference

router = APIRouter(tags=["inference"])


def _params(body: ChatCompletionRequest) -> ChatParams:
    return ChatParams(
        messages=[m.model_dump() for m in body.messages], max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature, top_p=body.top_p, stop=body.stop_list, n=body.n, seed=body.seed,
    )


def chat_completions(ctx: Ctx, user: CurrentUser, body: ChatCompletionRequest, request: Request) -> Any:
    engine = request.app.state.engine
    target = inference.resolve(ctx, engine, user.id, body.model)
    params, citations = _params(body), None
    if body.grounded:
        target, params, found = inference.ground(ctx, engine, user.id, target, params, body.document_ids,
                                                 body.passages)
        citations = [Citation(**asdict(c)) for c in found]
    inference.check(engine, target, params)
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        stream = inference.Stream(engine, target, params)
        usage = body.stream_options is not None and body.stream_options.include_usage
        aligned = target.adapter_id is not None
        chunks = _sse(stream, body.model, completion_id, created, usage, aligned, citations)
        return StreamingResponse(_until_disconnect(stream, chunks), media_type="text/event-stream")
    result = inference.complete(engine, target, params)
    aligned = target.adapter_id is not None
    return ChatCompletion(
        id=completion_id, created=created, model=body.model,
        choices=[Choice(index=i, message=ResponseMessage(content=c.text), finish_reason=c.finish_reason)
                 for i, c in enumerate(result.choices)],
        usage=Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                    total_tokens=result.prompt_tokens + result.completion_tokens),
        confidence_score=round(sum(c.confidence for c in result.choices) / len(result.choices), 2) if aligned else None,
        prompt_truncated=result.prompt_truncated,
        citations=citations,
        routed_to_base=result.routed_to_base if aligned else None,
    )


async def _until_disconnect(stream: inference.Stream, chunks: Iterator[str]) -> AsyncIterator[str]:
    """Starlette cancels a response whose client left; free its generation row right then, not when the
    garbage collector gets round to closing the abandoned sync iterator (hundreds of tokens later)."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        stream.cancel.set()


def _sse(stream: inference.Stream, model: str, cid: str, created: int, usage: bool, aligned: bool,
         citations: list[Citation] | None) -> Iterator[str]:
    """OpenAI's chunks; the last content chunk also carries ``confidence_score``, ``routed_to_base`` and
    ``citations`` when known."""
    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in stream.pieces():
        yield chunk({"content": piece})
    result = stream.result
    choice = result.choices[0]
    extra: dict[str, Any] = {"confidence_score": choice.confidence, "routed_to_base": result.routed_to_base} \
        if aligned else {}
    if citations is not None:
        extra["citations"] = [c.model_dump() for c in citations]
    yield chunk({}, choice.finish_reason, **extra)
    if usage:
        counts = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                  "total_tokens": result.prompt_tokens + result.completion_tokens}
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": counts}
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def list_models(ctx: Ctx, user: CurrentUser) -> ModelListing:
    models = inference.chat_models(ctx, user.id)
    return ModelListing(data=[ModelCard(id=m, created=0, owned_by=owner) for m, owner in models])


router.add_api_route("/api/v3/inference/chat/completions", chat_completions, methods=["POST"],
                     response_model=None, name="chat_completions")
router.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"], response_model=None,
                     name="v1_chat_completions")
router.add_api_route("/v1/models", list_models, methods=["GET"], name="v1_models")
