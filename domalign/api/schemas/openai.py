"""OpenAI chat-completions shapes, so the official ``openai`` client works unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domalign.retrieval import GROUNDED_PASSAGES


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts(cls, value: object) -> object:
        """Accept OpenAI's list-of-parts content when every part is text."""
        if isinstance(value, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in value):
                raise ValueError("only text content parts are supported")
            return "".join(p.get("text", "") for p in value)
        return value


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=8)
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # domalign's own (send with the openai client's extra_body)
    grounded: bool = Field(
        default=False, description="Answer from retrieved passages: the aligned model's own documents, or "
        "`document_ids`; the passages come back in `citations`."
    )
    passages: int = Field(default=GROUNDED_PASSAGES, ge=1, le=20, description="Passages retrieved when grounded.")
    document_ids: list[str] | None = Field(
        default=None, max_length=1000, description="Documents to retrieve from when grounded (a base model needs them)."
    )

    @property
    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class Citation(BaseModel):
    """A retrieved passage that was put in front of the question of a grounded request."""

    chunk_id: str
    document_id: str
    score: float = Field(description="BM25 score of the passage for the question.")
    text: str


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: ResponseMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    confidence_score: float | None = Field(default=None, description="0-100, aligned models only.")
    prompt_truncated: bool = False
    citations: list[Citation] | None = Field(default=None, description="The passages of a grounded request.")
    routed_to_base: bool | None = Field(
        default=None, description="Aligned models only: true when the question was not about the documents, so "
        "the base model answered it without the adapter (`training.route_general_questions`).")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelListing(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
