"""A small typed HTTP client for the domalign API (used by the CLI and the demo)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

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

_ERRORS: dict[int, type[DomalignError]] = {
    400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    415: UnsupportedMedia, 422: InvalidInput,
}


class Client:
    """Synchronous client; every non-2xx answer becomes the matching DomalignError."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {api_key}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/api/v3{path}", **kwargs)
        if response.status_code >= 400:
            self._raise(response)
        return response.json() if response.content else None

    @staticmethod
    def _raise(response: httpx.Response) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise _ERRORS.get(response.status_code, DomalignError)(f"HTTP {response.status_code}: {detail}")

    def upload_documents(self, paths: list[Path], categories: list[str] | None = None) -> list[str]:
        files = [("files", (p.name, p.read_bytes())) for p in paths]
        data = {"categories": ",".join(categories)} if categories else None
        return self._call("POST", "/documents", files=files, data=data)["document_ids"]

    def list_documents(self) -> list[dict]:
        return self._call("GET", "/documents")["documents"]

    def base_models(self) -> list[dict]:
        return self._call("GET", "/models/base")["models"]

    def create_alignment(self, name: str, base_model: str, document_ids: list[str], **options: Any) -> str:
        body = {"name": name, "base_model": base_model, "document_ids": document_ids, **options}
        return self._call("POST", "/alignment/create", json=body)["id"]

    def alignment_status(self, alignment_id: str) -> dict:
        return self._call("GET", f"/alignment/status/{alignment_id}")

    def alignment_events(self, alignment_id: str, after: int = 0) -> dict:
        return self._call("GET", f"/alignment/{alignment_id}/events", params={"after": after})

    def upload_benchmark(self, items: list[dict], name: str, description: str | None = None) -> str:
        data = {"name": name, **({"description": description} if description else {})}
        files = {"file": ("benchmark.json", json.dumps(items).encode(), "application/json")}
        return self._call("POST", "/benchmark/upload", data=data, files=files)["id"]

    def all_events(self, alignment_id: str) -> list[dict]:
        """Every event of an alignment, following the paging cursor."""
        events, after = [], 0
        while page := self.alignment_events(alignment_id, after)["events"]:
            events += page
            after = page[-1]["id"]
        return events

    def deploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> dict:
        """Deploy an aligned model; with ``wait``, return the finished operation."""
        return self._operate("deploy", model_id, wait, poll_s)

    def undeploy(self, model_id: str, *, wait: bool = True, poll_s: float = 0.5) -> dict:
        """Take a deployed model out of serving; with ``wait``, return the finished operation."""
        return self._operate("undeploy", model_id, wait, poll_s)

    def _operate(self, action: str, model_id: str, wait: bool, poll_s: float) -> dict:
        op = self._call("POST", f"/models/{action}-model/{model_id}")
        while wait and op["status"] == "PENDING":
            time.sleep(poll_s)
            op = self._call("GET", f"/models/{action}-model/{model_id}/status")
        return op

    def create_evaluation(self, model_id: str, benchmark_id: str, model_id_2: str | None = None,
                          grounded: bool = False) -> str:
        body = {"model_id": model_id, "benchmark_id": benchmark_id, "model_id_2": model_id_2, "grounded": grounded}
        return self._call("POST", "/evaluations", json=body)["id"]

    def evaluation_status(self, eval_id: str) -> dict:
        return self._call("GET", f"/evaluations/{eval_id}/status")

    def evaluation_results(self, eval_id: str) -> dict:
        return self._call("GET", f"/evaluations/{eval_id}/results")

    def aligned_models(self) -> list[dict]:
        return self._call("GET", "/models/aligned")["models"]

    def download_model(self, model_id: str, fmt: str, folder: Path,
                       on_bytes: Callable[[int, int | None], None] | None = None) -> Path:
        """Save an export (``adapter``, ``merged`` or ``gguf``) into ``folder``; returns the file.

        The server builds it on first request (a merge takes a while), so there is no read timeout.
        """
        url = f"/api/v3/models/{model_id}/download"
        with self._http.stream("GET", url, params={"format": fmt}, timeout=httpx.Timeout(60, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                self._raise(response)
            name = response.headers.get("content-disposition", "").rpartition("filename=")[2].strip('"')
            target = Path(folder) / (name or f"{model_id}.{fmt}")
            total = int(response.headers["content-length"]) if "content-length" in response.headers else None
            with open(target, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk), total)
        return target

    def chat(self, model: str, messages: list[dict], **params: Any) -> dict:
        """One OpenAI-shaped chat completion (the official ``openai`` client works as well)."""
        return self._call("POST", "/inference/chat/completions", json={"model": model, "messages": messages, **params})

    def cancel_alignment(self, alignment_id: str) -> dict:
        return self._call("POST", f"/alignment/{alignment_id}/cancel")

    def list_alignments(self, limit: int = 50, offset: int = 0) -> dict:
        return self._call("GET", "/alignment", params={"limit": limit, "offset": offset})

    def chat_stream(self, model: str, messages: list[dict], **params: Any) -> Iterator[str]:
        """The answer's text as it is generated (server-sent events)."""
        body = {"model": model, "messages": messages, "stream": True, **params}
        with self._http.stream("POST", "/api/v3/inference/chat/completions", json=body) as response:
            if response.status_code >= 400:
                response.read()
                self._raise(response)
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for choice in json.loads(line[len("data: "):])["choices"]:
                    if content := choice["delta"].get("content"):
                        yield content
