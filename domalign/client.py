"""Typed Python client for the domalign API: ``Client`` (sync) and ``AsyncClient`` (asyncio), both on httpx.

Every route is described once, as a ``Request`` that knows its method, path,
parameters and the pydantic model its answer parses into (the server's own
response models, so client and server cannot drift apart). The two clients
differ only in how they send a request; a few helpers that poll or stream
(waiting for a job, deploying, downloading, chat streaming, following events)
are written for each. Every non-2xx answer raises the matching ``DomalignError``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from domalign.api.schemas.alignments import (
    AlignmentCreated,
    AlignmentList,
    AlignmentProject,
    AlignmentStatusResponse,
    EventList,
)
from domalign.api.schemas.benchmarks import BenchmarkCreated, BenchmarkData, BenchmarkInfo, BenchmarkList
from domalign.api.schemas.documents import DocumentInfo, DocumentList, DocumentUploadResponse
from domalign.api.schemas.evaluations import EvaluationCreated, EvaluationInfo, EvaluationList, EvaluationResults
from domalign.api.schemas.models import (
    AlignedModelList,
    AlignedModelOut,
    BaseModelList,
    BaseModelOut,
    DeploymentStatus,
)
from domalign.api.schemas.openai import ChatCompletion
from domalign.api.schemas.webhooks import DeliveryList, WebhookCreated, WebhookList, WebhookOut
from domalign.errors import (
    BadRequest,
    Conflict,
    DomalignError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMedia,
)
from domalign.workflow.events import AlignmentEvent

T = TypeVar("T")
P = ParamSpec("P")

_ERRORS: dict[int, type[DomalignError]] = {
    400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    415: UnsupportedMedia, 422: InvalidInput,
}
RUNNING = ("pending", "evaluating")  # alignment statuses of a job that has not stopped
EVALUATING = ("PENDING", "RUNNING")  # evaluation statuses of one that has not ended
API = "/api/v3"


@dataclass(frozen=True)
class Request(Generic[T]):
    """One call of the API and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    files: Any = None
    options: dict[str, Any] = field(default_factory=dict)  # httpx options such as a longer timeout

    def send_kwargs(self) -> dict[str, Any]:
        kwargs = {"params": self.params, "json": self.json, "data": self.data, "files": self.files, **self.options}
        return {k: v for k, v in kwargs.items() if v is not None}


def _none(_body: Any) -> None:
    return None


def _raw(body: Any) -> Any:
    return body


# ---------------------------------------------------------------- the routes, once


class Routes:
    """Request builders, one per route; ``Client`` and ``AsyncClient`` expose each as a method."""

    @staticmethod
    def upload_documents(paths: list[Path], categories: list[str] | None = None) -> Request[list[str]]:
        """Upload files (txt, md, html, pdf, docx); returns one document id per file, in order."""
        files = [("files", (Path(p).name, Path(p).read_bytes())) for p in paths]
        data = {"categories": ",".join(categories)} if categories else None
        return Request("POST", "/documents", lambda b: DocumentUploadResponse.model_validate(b).document_ids,
                       files=files, data=data)

    @staticmethod
    def list_documents() -> Request[list[DocumentInfo]]:
        return Request("GET", "/documents", lambda b: DocumentList.model_validate(b).documents)

    @staticmethod
    def get_document(document_id: str) -> Request[DocumentInfo]:
        return Request("GET", f"/documents/{document_id}", DocumentInfo.model_validate)

    @staticmethod
    def delete_document(document_id: str) -> Request[None]:
        return Request("DELETE", f"/documents/{document_id}", _none)

    @staticmethod
    def create_benchmark(document_ids: list[str], num_questions: int = 50, name: str | None = None) -> Request[str]:
        """Generate a benchmark from documents in the background; returns its id."""
        body = {"document_ids": document_ids, "num_questions": num_questions, "name": name}
        return Request("POST", "/benchmark/create", lambda b: BenchmarkCreated.model_validate(b).id, json=body)

    @staticmethod
    def upload_benchmark(items: list[dict], name: str, description: str | None = None) -> Request[str]:
        """Upload ``{question, answer, choices?, kind?}`` items as a benchmark; returns its id."""
        data = {"name": name, **({"description": description} if description else {})}
        files = {"file": ("benchmark.json", json.dumps(items).encode(), "application/json")}
        return Request("POST", "/benchmark/upload", lambda b: BenchmarkCreated.model_validate(b).id,
                       data=data, files=files)

    @staticmethod
    def benchmark_status(benchmark_id: str) -> Request[BenchmarkInfo]:
        return Request("GET", f"/benchmark/status/{benchmark_id}", BenchmarkInfo.model_validate)

    @staticmethod
    def list_benchmarks() -> Request[list[BenchmarkInfo]]:
        return Request("GET", "/benchmark/list", lambda b: BenchmarkList.model_validate(b).benchmarks)

    @staticmethod
    def benchmark_data(benchmark_id: str) -> Request[BenchmarkData]:
        return Request("GET", f"/benchmark/{benchmark_id}/data", BenchmarkData.model_validate)

    @staticmethod
    def delete_benchmark(benchmark_id: str) -> Request[None]:
        return Request("DELETE", f"/benchmark/{benchmark_id}", _none)

    @staticmethod
    def create_alignment(name: str, base_model: str, document_ids: list[str], **options: Any) -> Request[str]:
        """Start an alignment; ``options`` are the other fields of the body (training, synthesis, …)."""
        body = {"name": name, "base_model": base_model, "document_ids": document_ids, **options}
        return Request("POST", "/alignment/create", lambda b: AlignmentCreated.model_validate(b).id, json=body)

    @staticmethod
    def alignment_status(alignment_id: str) -> Request[AlignmentStatusResponse]:
        return Request("GET", f"/alignment/status/{alignment_id}", AlignmentStatusResponse.model_validate)

    @staticmethod
    def get_alignment(alignment_id: str) -> Request[AlignmentProject]:
        return Request("GET", f"/alignment/{alignment_id}", AlignmentProject.model_validate)

    @staticmethod
    def list_alignments(limit: int = 50, offset: int = 0) -> Request[AlignmentList]:
        return Request("GET", "/alignment", AlignmentList.model_validate, params={"limit": limit, "offset": offset})

    @staticmethod
    def cancel_alignment(alignment_id: str) -> Request[AlignmentProject]:
        return Request("POST", f"/alignment/{alignment_id}/cancel", AlignmentProject.model_validate)

    @staticmethod
    def delete_alignment(alignment_id: str) -> Request[None]:
        return Request("DELETE", f"/alignment/{alignment_id}", _none)

    @staticmethod
    def alignment_events(alignment_id: str, after: int = 0, limit: int = 200) -> Request[EventList]:
        """One page of events with id above ``after``; ``next_after`` is the next cursor."""
        return Request("GET", f"/alignment/{alignment_id}/events", EventList.model_validate,
                       params={"after": after, "limit": limit})

    @staticmethod
    def base_models() -> Request[list[BaseModelOut]]:
        return Request("GET", "/models/base", lambda b: BaseModelList.model_validate(b).models)

    @staticmethod
    def aligned_models() -> Request[list[AlignedModelOut]]:
        return Request("GET", "/models/aligned", lambda b: AlignedModelList.model_validate(b).models)

    @staticmethod
    def start_deployment(model_id: str, action: str = "deploy") -> Request[DeploymentStatus]:
        """``action`` is ``deploy`` or ``undeploy``; the returned operation is usually still PENDING."""
        return Request("POST", f"/models/{action}-model/{model_id}", DeploymentStatus.model_validate)

    @staticmethod
    def deployment_status(model_id: str, action: str = "deploy") -> Request[DeploymentStatus]:
        return Request("GET", f"/models/{action}-model/{model_id}/status", DeploymentStatus.model_validate)

    @staticmethod
    def create_evaluation(model_id: str, benchmark_id: str, model_id_2: str | None = None,
                          grounded: bool = False) -> Request[str]:
        """Score a model (or two side by side) on a benchmark in the background; returns its id."""
        body = {"model_id": model_id, "benchmark_id": benchmark_id, "model_id_2": model_id_2, "grounded": grounded}
        return Request("POST", "/evaluations", lambda b: EvaluationCreated.model_validate(b).id, json=body)

    @staticmethod
    def list_evaluations(model_id: str | None = None, limit: int = 50, offset: int = 0) -> Request[EvaluationList]:
        params = {"limit": limit, "offset": offset, **({"model_id": model_id} if model_id else {})}
        return Request("GET", "/evaluations", EvaluationList.model_validate, params=params)

    @staticmethod
    def evaluation_status(evaluation_id: str) -> Request[EvaluationInfo]:
        return Request("GET", f"/evaluations/{evaluation_id}/status", EvaluationInfo.model_validate)

    @staticmethod
    def evaluation_results(evaluation_id: str) -> Request[EvaluationResults]:
        return Request("GET", f"/evaluations/{evaluation_id}/results", EvaluationResults.model_validate)

    @staticmethod
    def evaluation_answers(evaluation_id: str) -> Request[list[dict]]:
        """Every question's row: question, expected, answer, correct, confidence (``…_2`` and ``flip`` for two)."""
        return Request("GET", f"/evaluations/{evaluation_id}/download", lambda b: b["questions"])

    @staticmethod
    def create_webhook(url: str, secret: str | None = None) -> Request[WebhookCreated]:
        """Register a URL for signed status-change events; the secret is only in this answer."""
        return Request("POST", "/webhooks", WebhookCreated.model_validate, json={"url": url, "secret": secret})

    @staticmethod
    def list_webhooks() -> Request[list[WebhookOut]]:
        return Request("GET", "/webhooks", lambda b: WebhookList.model_validate(b).webhooks)

    @staticmethod
    def get_webhook(webhook_id: str) -> Request[WebhookOut]:
        return Request("GET", f"/webhooks/{webhook_id}", WebhookOut.model_validate)

    @staticmethod
    def delete_webhook(webhook_id: str) -> Request[None]:
        return Request("DELETE", f"/webhooks/{webhook_id}", _none)

    @staticmethod
    def webhook_deliveries(webhook_id: str, limit: int = 50, offset: int = 0) -> Request[DeliveryList]:
        return Request("GET", f"/webhooks/{webhook_id}/deliveries", DeliveryList.model_validate,
                       params={"limit": limit, "offset": offset})

    @staticmethod
    def chat(model: str, messages: list[dict], **params: Any) -> Request[ChatCompletion]:
        """One chat completion (OpenAI's shape plus ``confidence_score`` and ``citations``).

        ``params`` are the other body fields: ``max_tokens``, ``temperature``, ``grounded``, … The official
        ``openai`` client works against ``{url}/v1`` as well (docs/client.md).
        """
        return Request("POST", "/inference/chat/completions", ChatCompletion.model_validate,
                       json={"model": model, "messages": messages, **params}, options={"timeout": None})


def _sync(build: Callable[P, Request[T]]) -> Callable[Concatenate[Client, P], T]:
    @functools.wraps(build)
    def method(self: Client, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(build(*args, **kwargs))

    return method


def _async(build: Callable[P, Request[T]]) -> Callable[Concatenate[AsyncClient, P], Awaitable[T]]:
    @functools.wraps(build)
    async def method(self: AsyncClient, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(build(*args, **kwargs))

    return method


def raise_for(response: httpx.Response) -> None:
    """The matching ``DomalignError`` for a non-2xx answer, with the server's ``detail``."""
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise _ERRORS.get(response.status_code, DomalignError)(f"HTTP {response.status_code}: {detail}")


def _parse(request: Request[T], response: httpx.Response) -> T:
    raise_for(response)
    return request.parse(response.json() if response.content else None)


def _download_name(response: httpx.Response, fallback: str) -> str:
    return response.headers.get("content-disposition", "").rpartition("filename=")[2].strip('"') or fallback


def _chat_text(line: str) -> str | None:
    """The text a streamed chat line adds, if any."""
    if not line.startswith("data: ") or line == "data: [DONE]":
        return None
    return "".join(c["delta"].get("content") or "" for c in json.loads(line[len("data: "):])["choices"]) or None


def _poll(fetch: Callable[[], T], busy: Callable[[T], bool], poll_s: float,
          on_status: Callable[[T], None] | None) -> T:
    """``fetch()`` until ``busy`` says the answer is final; ``on_status`` sees every answer."""
    while True:
        status = fetch()
        if on_status is not None:
            on_status(status)
        if not busy(status):
            return status
        time.sleep(poll_s)


async def _apoll(fetch: Callable[[], Awaitable[T]], busy: Callable[[T], bool], poll_s: float,
                 on_status: Callable[[T], None] | None) -> T:
    """``_poll`` for the async client."""
    while True:
        status = await fetch()
        if on_status is not None:
            on_status(status)
        if not busy(status):
            return status
        await asyncio.sleep(poll_s)


def _http_options(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    return {"base_url": base_url.rstrip("/") + API, "timeout": timeout,
            "headers": {"Authorization": f"Bearer {api_key}"}}


# ---------------------------------------------------------------- sync


class Client:
    """Synchronous client: ``with Client(url, api_key) as api: api.list_documents()``."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(**_http_options(base_url, api_key, timeout))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, request: Request[T]) -> T:
        return _parse(request, self._http.request(request.method, request.path, **request.send_kwargs()))

    upload_documents = _sync(Routes.upload_documents)
    list_documents = _sync(Routes.list_documents)
    get_document = _sync(Routes.get_document)
    delete_document = _sync(Routes.delete_document)
    create_benchmark = _sync(Routes.create_benchmark)
    upload_benchmark = _sync(Routes.upload_benchmark)
    benchmark_status = _sync(Routes.benchmark_status)
    list_benchmarks = _sync(Routes.list_benchmarks)
    benchmark_data = _sync(Routes.benchmark_data)
    delete_benchmark = _sync(Routes.delete_benchmark)
    create_alignment = _sync(Routes.create_alignment)
    alignment_status = _sync(Routes.alignment_status)
    get_alignment = _sync(Routes.get_alignment)
    list_alignments = _sync(Routes.list_alignments)
    cancel_alignment = _sync(Routes.cancel_alignment)
    delete_alignment = _sync(Routes.delete_alignment)
    alignment_events = _sync(Routes.alignment_events)
    base_models = _sync(Routes.base_models)
    aligned_models = _sync(Routes.aligned_models)
    start_deployment = _sync(Routes.start_deployment)
    deployment_status = _sync(Routes.deployment_status)
    create_evaluation = _sync(Routes.create_evaluation)
    list_evaluations = _sync(Routes.list_evaluations)
    evaluation_status = _sync(Routes.evaluation_status)
    evaluation_results = _sync(Routes.evaluation_results)
    evaluation_answers = _sync(Routes.evaluation_answers)
    create_webhook = _sync(Routes.create_webhook)
    list_webhooks = _sync(Routes.list_webhooks)
    get_webhook = _sync(Routes.get_webhook)
    delete_webhook = _sync(Routes.delete_webhook)
    webhook_deliveries = _sync(Routes.webhook_deliveries)
    chat = _sync(Routes.chat)

    def all_events(self, alignment_id: str) -> list[AlignmentEvent]:
        """Every event of an alignment so far, following the paging cursor."""
        events, after = [], 0
        while page := self.alignment_events(alignment_id, after).events:
            events += page
            after = page[-1].id
        return events

    def wait_for_alignment(self, alignment_id: str, poll_s: float = 1.0,
                           on_status: Callable[[AlignmentStatusResponse], None] | None = None,
                           ) -> AlignmentStatusResponse:
        """Poll until the job stops (evaluated or failed); ``on_status`` sees every answer."""
        return _poll(lambda: self.alignment_status(alignment_id), lambda s: s.status in RUNNING, poll_s, on_status)

    def follow_events(self, alignment_id: str, after: int = 0) -> Iterator[AlignmentEvent]:
        """Events as they happen (server-sent events), until the job stops."""
        headers = {"Accept": "text/event-stream"}
        with self._http.stream("GET", f"/alignment/{alignment_id}/events", params={"after": after},
                               headers=headers, timeout=httpx.Timeout(60, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield AlignmentEvent.model_validate_json(line[len("data: "):])

    def deploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> DeploymentStatus:
        """Deploy an aligned model; with ``wait``, return the finished operation."""
        return self._operate("deploy", model_id, wait, poll_s)

    def undeploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> DeploymentStatus:
        """Take a deployed model out of serving; with ``wait``, return the finished operation."""
        return self._operate("undeploy", model_id, wait, poll_s)

    def _operate(self, action: str, model_id: str, wait: bool, poll_s: float) -> DeploymentStatus:
        op = self.start_deployment(model_id, action)
        if not wait or op.status != "PENDING":
            return op
        return _poll(lambda: self.deployment_status(model_id, action), lambda o: o.status == "PENDING", poll_s, None)

    def wait_for_evaluation(self, evaluation_id: str, poll_s: float = 0.5,
                            on_status: Callable[[EvaluationInfo], None] | None = None) -> EvaluationInfo:
        """Poll until the evaluation is COMPLETED or FAILED; ``on_status`` sees every answer."""
        return _poll(lambda: self.evaluation_status(evaluation_id), lambda s: s.status in EVALUATING, poll_s,
                     on_status)

    def download_model(self, model_id: str, fmt: str, folder: Path,
                       on_bytes: Callable[[int, int | None], None] | None = None) -> Path:
        """Save an export (``adapter``, ``merged`` or ``gguf``) into ``folder``; returns the file.

        The server builds it on first request (a merge takes a while), so there is no read timeout.
        """
        with self._http.stream("GET", f"/models/{model_id}/download", params={"format": fmt},
                               timeout=httpx.Timeout(60, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            target = Path(folder) / _download_name(response, f"{model_id}.{fmt}")
            total = int(response.headers["content-length"]) if "content-length" in response.headers else None
            with open(target, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk), total)
        return target

    def chat_stream(self, model: str, messages: list[dict], **params: Any) -> Iterator[str]:
        """The answer's text as it is generated (server-sent events)."""
        body = {"model": model, "messages": messages, "stream": True, **params}
        with self._http.stream("POST", "/inference/chat/completions", json=body, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise_for(response)
            for line in response.iter_lines():
                if text := _chat_text(line):
                    yield text


# ---------------------------------------------------------------- async


class AsyncClient:
    """The same methods as ``Client``, awaitable: ``async with AsyncClient(url, key) as api: ...``."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._http = httpx.AsyncClient(**_http_options(base_url, api_key, timeout))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def send(self, request: Request[T]) -> T:
        return _parse(request, await self._http.request(request.method, request.path, **request.send_kwargs()))

    upload_documents = _async(Routes.upload_documents)
    list_documents = _async(Routes.list_documents)
    get_document = _async(Routes.get_document)
    delete_document = _async(Routes.delete_document)
    create_benchmark = _async(Routes.create_benchmark)
    upload_benchmark = _async(Routes.upload_benchmark)
    benchmark_status = _async(Routes.benchmark_status)
    list_benchmarks = _async(Routes.list_benchmarks)
    benchmark_data = _async(Routes.benchmark_data)
    delete_benchmark = _async(Routes.delete_benchmark)
    create_alignment = _async(Routes.create_alignment)
    alignment_status = _async(Routes.alignment_status)
    get_alignment = _async(Routes.get_alignment)
    list_alignments = _async(Routes.list_alignments)
    cancel_alignment = _async(Routes.cancel_alignment)
    delete_alignment = _async(Routes.delete_alignment)
    alignment_events = _async(Routes.alignment_events)
    base_models = _async(Routes.base_models)
    aligned_models = _async(Routes.aligned_models)
    start_deployment = _async(Routes.start_deployment)
    deployment_status = _async(Routes.deployment_status)
    create_evaluation = _async(Routes.create_evaluation)
    list_evaluations = _async(Routes.list_evaluations)
    evaluation_status = _async(Routes.evaluation_status)
    evaluation_results = _async(Routes.evaluation_results)
    evaluation_answers = _async(Routes.evaluation_answers)
    create_webhook = _async(Routes.create_webhook)
    list_webhooks = _async(Routes.list_webhooks)
    get_webhook = _async(Routes.get_webhook)
    delete_webhook = _async(Routes.delete_webhook)
    webhook_deliveries = _async(Routes.webhook_deliveries)
    chat = _async(Routes.chat)

    async def wait_for_alignment(self, alignment_id: str, poll_s: float = 1.0,
                                 on_status: Callable[[AlignmentStatusResponse], None] | None = None,
                                 ) -> AlignmentStatusResponse:
        """Poll until the job stops (evaluated or failed); ``on_status`` sees every answer."""
        return await _apoll(lambda: self.alignment_status(alignment_id), lambda s: s.status in RUNNING, poll_s,
                            on_status)

    async def wait_for_evaluation(self, evaluation_id: str, poll_s: float = 0.5,
                                  on_status: Callable[[EvaluationInfo], None] | None = None) -> EvaluationInfo:
        """Poll until the evaluation is COMPLETED or FAILED; ``on_status`` sees every answer."""
        return await _apoll(lambda: self.evaluation_status(evaluation_id), lambda s: s.status in EVALUATING, poll_s,
                            on_status)

    async def download_model(self, model_id: str, fmt: str, folder: Path) -> Path:
        """Save an export (``adapter``, ``merged`` or ``gguf``) into ``folder``; returns the file."""
        async with self._http.stream("GET", f"/models/{model_id}/download", params={"format": fmt},
                                     timeout=httpx.Timeout(60, read=None)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for(response)
            target = Path(folder) / _download_name(response, f"{model_id}.{fmt}")
            with open(target, "wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        return target

    async def follow_events(self, alignment_id: str, after: int = 0) -> AsyncIterator[AlignmentEvent]:
        """Events as they happen (server-sent events), until the job stops."""
        async with self._http.stream("GET", f"/alignment/{alignment_id}/events", params={"after": after},
                                     headers={"Accept": "text/event-stream"},
                                     timeout=httpx.Timeout(60, read=None)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for(response)
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    yield AlignmentEvent.model_validate_json(line[len("data: "):])

    async def deploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> DeploymentStatus:
        return await self._operate("deploy", model_id, wait, poll_s)

    async def undeploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> DeploymentStatus:
        return await self._operate("undeploy", model_id, wait, poll_s)

    async def _operate(self, action: str, model_id: str, wait: bool, poll_s: float) -> DeploymentStatus:
        op = await self.start_deployment(model_id, action)
        if not wait or op.status != "PENDING":
            return op
        return await _apoll(lambda: self.deployment_status(model_id, action), lambda o: o.status == "PENDING", poll_s,
                            None)

    async def chat_stream(self, model: str, messages: list[dict], **params: Any) -> AsyncIterator[str]:
        """The answer's text as it is generated (server-sent events)."""
        body = {"model": model, "messages": messages, "stream": True, **params}
        async with self._http.stream("POST", "/inference/chat/completions", json=body, timeout=None) as response:
            if response.status_code >= 400:
                await response.aread()
                raise_for(response)
            async for line in response.aiter_lines():
                if text := _chat_text(line):
                    yield text
