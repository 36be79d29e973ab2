"""The train stage on a Ray cluster: Ray Train's ``TorchTrainer`` runs ``train_lora`` data-parallel.

Ray Train places the workers on the cluster's nodes (one GPU each with
``use_gpu``) and sets up ``torch.distributed`` between them (gloo on CPUs, NCCL on
GPUs); ``train_lora`` then splits every batch across them and sums their
gradients, so N workers make the same updates as one process would, N times
faster at best. Ray's own checkpointing is not used: the main worker writes
domalign's checkpoints into the job's folder, which must be on storage every
node sees (the shared blob store), so a resumed job continues from them on Ray
or locally alike.

The driver (the workflow's train stage) stays the only writer of job state: the
main worker sends progress and checkpoint notices through a small actor, and
the driver forwards a cancel back through it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from domalign.domain import TrainExample
from domalign.errors import DomalignError
from domalign.train.config import TrainingConfig
from domalign.train.lora import TrainProgress, TrainResult

POLL_S = 0.5  # how often the driver forwards progress and checks for a cancel


@dataclass(frozen=True)
class RayCluster:
    """Where and how wide the training runs."""

    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    storage_path: Path = Path("~/ray_results")  # Ray Train's run records (shared storage on a cluster)


class _Control:
    """Mailbox between the driver and the main worker (a Ray actor, one per run)."""

    def __init__(self) -> None:
        self._messages: list[tuple[str, Any]] = []
        self._stop = False
        self._outcome: tuple[str, Any] | None = None

    def send(self, kind: str, value: Any) -> None:
        self._messages.append((kind, value))

    def drain(self) -> list[tuple[str, Any]]:
        messages, self._messages = self._messages, []
        return messages

    def stop(self) -> None:
        self._stop = True

    def stopping(self) -> bool:
        return self._stop

    def finish(self, kind: str, value: Any) -> None:
        self._outcome = (kind, value)

    def outcome(self) -> tuple[str, Any] | None:
        return self._outcome


def connect() -> None:
    """Join the cluster at ``RAY_ADDRESS``, or start a local Ray instance when it is unset."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False, include_dashboard=False)


def train_on_ray(
    model_source: str,
    cache_dir: Path,
    examples: Sequence[TrainExample],
    config: TrainingConfig,
    cluster: RayCluster,
    *,
    run_name: str,
    output_dir: Path,
    checkpoint_dir: Path,
    on_progress: Callable[[TrainProgress], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """``train_lora`` on ``cluster.num_workers`` Ray workers; same arguments, same result, same errors.

    Each worker loads the base model itself from ``model_source`` (through
    ``cache_dir``), so both must be reachable on every node.
    """
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    connect()
    control = ray.remote(_Control).remote()
    trainer = TorchTrainer(
        _worker,
        train_loop_config={
            "control": control, "model_source": model_source, "cache_dir": str(cache_dir),
            "examples": [asdict(example) for example in examples], "config": config.model_dump(mode="json"),
            "output_dir": str(output_dir), "checkpoint_dir": str(checkpoint_dir),
        },
        scaling_config=ScalingConfig(
            num_workers=cluster.num_workers, use_gpu=cluster.use_gpu,
            resources_per_worker={"CPU": cluster.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=run_name, storage_path=str(Path(cluster.storage_path).expanduser()),
            failure_config=FailureConfig(max_failures=0),  # a failed job is resumed by the workflow, not by Ray
        ),
    )
    failure: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as exc:  # noqa: BLE001 -- handed to the driver thread below
            failure.append(exc)

    thread = threading.Thread(target=fit, name=f"ray-train-{run_name}", daemon=True)
    thread.start()
    stop_sent = False
    while thread.is_alive():
        thread.join(POLL_S)
        _forward(ray.get(control.drain.remote()), on_progress, on_checkpoint)
        if not stop_sent and should_stop is not None and should_stop():
            control.stop.remote()
            stop_sent = True
    _forward(ray.get(control.drain.remote()), on_progress, on_checkpoint)
    outcome = ray.get(control.outcome.remote())
    ray.kill(control)
    if outcome is not None and outcome[0] == "error":
        raise outcome[1]
    if outcome is None or failure:
        raise RuntimeError(f"training on Ray failed: {failure[0] if failure else 'no result from the main worker'}")
    return outcome[1]


def _forward(messages: list[tuple[str, Any]], on_progress, on_checkpoint) -> None:
    for kind, value in messages:
        if kind == "progress" and on_progress is not None:
            on_progress(value)
        elif kind == "checkpoint" and on_checkpoint is not None:
            on_checkpoint(value)


def _worker(cfg: dict[str, Any]) -> None:
    """One Ray Train worker: load the base model, train its share, report (main worker only)."""
    import ray
    import ray.train.torch

    from domalign.models.loader import load_base_model
    from domalign.train import parallel as data_parallel
    from domalign.train.lora import train_lora

    control, group = cfg["control"], data_parallel.current()
    model, tokenizer = load_base_model(cfg["model_source"], cache_dir=Path(cfg["cache_dir"]))
    model.to(ray.train.torch.get_device())

    def send(kind: str) -> Callable[[Any], None]:
        return lambda value: control.send.remote(kind, value)

    try:
        result = train_lora(
            model, tokenizer, [TrainExample(**row) for row in cfg["examples"]],
            TrainingConfig.model_validate(cfg["config"]),
            output_dir=Path(cfg["output_dir"]), checkpoint_dir=Path(cfg["checkpoint_dir"]),
            on_progress=send("progress"), on_checkpoint=send("checkpoint"),
            should_stop=lambda: ray.get(control.stopping.remote()), parallel=group,
        )
    except DomalignError as exc:  # cancelled, bad options: the driver raises the same error
        if group.is_main:
            ray.get(control.finish.remote("error", exc))
        return
    if group.is_main:
        ray.get(control.finish.remote("done", result))
