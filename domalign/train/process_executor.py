"""The train stage in a child process of the worker (the default executor, ``process``).

Why not in the worker's own process: training leaves the process that ran it slower at everything
after. The aligned model's evaluation right after 500 s of training took 52.3 s in the same process
against 34.6 s when a child process had trained (docs/performance.md); the cause inside torch is not
known, and a process that exits takes it along. A child also keeps a crash of training (killed for
memory, a native fault) from taking the worker down with it: the stage fails with the exit status
and the worker goes on to the next job.

The child loads the base model itself from the model cache (2.5 s for the embedded model) and runs
the same ``train_lora``. As on Ray, the worker stays the only writer of job state: the child sends
progress and checkpoint notices through a queue, and a cancel goes the other way through an event.
The child exits at once if the worker dies, so an orphan never trains beside the worker that takes
the job over; checkpoints are written atomically, so that loses only the steps since the last one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from domalign.domain import TrainExample
from domalign.errors import DomalignError
from domalign.train.config import TrainingConfig
from domalign.train.lora import TrainProgress, TrainResult

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the driver checks for a cancel and for a child that died
ORPHAN_EXIT_CODE = 70  # the child's exit status when it stops because the worker died


class TrainingProcessDied(DomalignError):
    """The child process ended without a result (killed, out of memory, a native crash)."""


def train_in_child_process(
    model_source: str,
    cache_dir: Path,
    examples: Sequence[TrainExample],
    config: TrainingConfig,
    *,
    output_dir: Path,
    checkpoint_dir: Path,
    on_progress: Callable[[TrainProgress], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """``train_lora`` in a fresh child process; same arguments, same result, same errors.

    The child loads the base model from ``model_source`` through ``cache_dir`` and uses as many
    torch threads as the calling thread's process does.
    """
    import torch

    spawn = multiprocessing.get_context("spawn")  # not fork: the worker has threads and a loaded torch
    messages, stop = spawn.Queue(), spawn.Event()
    child = spawn.Process(
        target=_child, name="domalign-train", daemon=True,
        args=(messages, stop, model_source, str(cache_dir), [asdict(e) for e in examples],
              config.model_dump(mode="json"), str(output_dir), str(checkpoint_dir), torch.get_num_threads()),
    )
    child.start()
    outcome: tuple[str, Any] | None = None
    try:
        while outcome is None:
            try:
                kind, value = messages.get(timeout=POLL_S)
            except queue.Empty:
                if not child.is_alive():
                    break
            else:
                if kind == "progress" and on_progress is not None:
                    on_progress(value)
                elif kind == "checkpoint" and on_checkpoint is not None:
                    on_checkpoint(value)
                elif kind in ("done", "error"):
                    outcome = (kind, value)
            if should_stop is not None and not stop.is_set() and should_stop():
                stop.set()  # the child saves a checkpoint and raises Cancelled, which comes back as its outcome
        child.join()
    finally:
        if child.is_alive():  # the driver itself failed (a callback raised): do not leave the child training
            child.terminate()
            child.join()
    if outcome is None:
        code = child.exitcode or 0
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise TrainingProcessDied(
            f"the training process {how} before it finished; out of memory is the usual cause: lower "
            "training.batch_size or training.max_seq_len, or free memory on this machine"
        )
    kind, value = outcome
    if kind == "error":
        raise value
    return value


def _child(
    messages: Any, stop: Any, model_source: str, cache_dir: str, examples: list[dict], config: dict,
    output_dir: str, checkpoint_dir: str, num_threads: int,
) -> None:
    """The child's whole life: load the base model, train, send the outcome."""
    _exit_with_parent()
    import torch

    from domalign.models.loader import load_base_model
    from domalign.train.lora import train_lora

    torch.set_num_threads(num_threads)
    try:
        model, tokenizer = load_base_model(model_source, cache_dir=Path(cache_dir))
        result = train_lora(
            model, tokenizer, [TrainExample(**row) for row in examples], TrainingConfig.model_validate(config),
            output_dir=Path(output_dir), checkpoint_dir=Path(checkpoint_dir),
            on_progress=lambda p: messages.put(("progress", p)),
            on_checkpoint=lambda step: messages.put(("checkpoint", step)),
            should_stop=stop.is_set,
        )
    except DomalignError as exc:  # cancelled, bad options: the driver raises the same error
        messages.put(("error", exc))
    except Exception as exc:  # any other failure, as one the driver can always unpickle
        log.exception("training failed in the child process")
        messages.put(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    else:
        messages.put(("done", result))
    messages.close()
    messages.join_thread()  # the outcome is in the pipe before the process ends


def _exit_with_parent() -> None:
    """End this process as soon as its parent (the worker) is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(ORPHAN_EXIT_CODE)

    threading.Thread(target=watch, name="domalign-train-parent-watch", daemon=True).start()
