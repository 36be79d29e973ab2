"""Settings: one validated object built at start-up and passed down, never a module global."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting, read from ``DOMALIGN_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="DOMALIGN_", extra="ignore")

    home: Path = Field(
        default=Path("~/.domalign"),
        description="Folder holding the SQLite database, the blob store and the model cache.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database, e.g. `postgresql://user:pass@host/db` (psycopg 3); "
        "default: SQLite (WAL) at HOME/domalign.db.",
    )
    blob_url: str | None = Field(
        default=None,
        description="fsspec URL of a blob store shared by every machine, e.g. `s3://bucket/domalign` for an "
        "S3-compatible bucket (`pip install 'domalign[s3]'`; credentials from the usual `AWS_*` variables); "
        "HOME/blobs is then this machine's working copy. Unset: HOME/blobs alone.",
    )
    blob_options: dict[str, Any] = Field(
        default_factory=dict,
        description='Options for the blob store\'s fsspec filesystem, as JSON, e.g. `{"endpoint_url": '
        '"http://minio:9000"}` for an S3-compatible server other than AWS.',
    )
    max_upload_mb: float = Field(
        default=50.0, gt=0, description="Largest accepted document file, in megabytes."
    )
    worker_enabled: bool = Field(
        default=True, description="Run a workflow worker thread inside the server process."
    )
    worker_concurrency: int = Field(
        default=1, ge=1, le=16,
        description="Jobs one process (server or `domalign worker`) runs at once, each in its own thread with its "
        "own copy of the base model in memory; unless `num_threads` is set, they share the cores evenly.",
    )
    worker_poll_s: float = Field(
        default=0.5, gt=0, description="Seconds between queue polls of an idle worker."
    )
    worker_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A job whose worker sent no heartbeat for this long is taken over by another.",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Seconds a webhook receiver has to answer.")
    webhook_retry_s: float = Field(
        default=5.0, gt=0,
        description="Wait before the first retry of a failed webhook delivery; it doubles with each attempt "
        "(capped at one hour).",
    )
    webhook_max_attempts: int = Field(
        default=10, ge=1, le=50, description="Attempts before a webhook delivery is marked failed."
    )
    batch_window_ms: float = Field(
        default=10.0, ge=0, le=1000,
        description="A chat request waits for others to share its generate call (batching) until none has "
        "come for this long.",
    )
    batch_max_wait_ms: float = Field(
        default=100.0, ge=0, le=10_000,
        description="The longest a chat request waits for others to share its call, however many keep coming.",
    )
    max_batch: int = Field(default=16, ge=1, le=256, description="Most chat requests in one generate call.")
    serve_precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Weights of served models: `bf16` (about twice the tokens/s on hardware with native bf16, "
        "answers may differ from fp32 in the last digits of a probability), `fp32`, or `auto` = bf16 where the "
        "hardware computes it natively (CUDA from Ampere on, CPUs with AVX512-BF16 or AMX), else fp32.",
    )
    executor: Literal["process", "local", "ray"] = Field(
        default="process",
        description="Where the train stage runs: `process` (a child process of the worker, which loads its own "
        "copy of the base model: the evaluations after training run about a third faster than in a process that "
        "trained, and a training crash fails the stage instead of killing the worker), `local` (in the worker's "
        "process) or `ray` (data-parallel on a Ray cluster through Ray Train's TorchTrainer; joins `RAY_ADDRESS`, "
        "or starts a local Ray instance when unset; needs `pip install 'domalign[ray]'`).",
    )
    ray_workers: int = Field(default=2, ge=1, le=1024, description="Ray Train workers per training run.")
    ray_use_gpu: bool = Field(default=False, description="Give each Ray Train worker one GPU.")
    ray_cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs Ray reserves for each training worker.")
    ray_storage: Path | None = Field(
        default=None,
        description="Folder (shared by all nodes) for Ray Train's run records; default HOME/ray. The base model, "
        "the model cache and the blob store must be reachable at the same paths on every node.",
    )
    num_threads: int | None = Field(
        default=None, ge=1, description="torch threads for training and evaluation (default: torch's)."
    )
    teacher_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible endpoint (e.g. http://host:8000/v1) that writes questions "
        "and paraphrases during synthesis; unset: no teacher (synthesis is rule-based).",
    )
    teacher_model: str = Field(default="gpt-4o-mini", description="Model name sent to the teacher endpoint.")
    teacher_api_key: SecretStr | None = Field(
        default=None, description="API key of the teacher endpoint, if it needs one."
    )
    teacher_concurrency: int = Field(default=4, ge=1, le=64, description="Teacher requests in flight at once.")

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'domalign.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def ray_storage_dir(self) -> Path:
        return self.ray_storage or self.home / "ray"

    @property
    def model_cache_dir(self) -> Path:
        return self.home / "model-cache"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
