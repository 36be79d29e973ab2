"""LoRA fine-tuning with a plain PyTorch loop (no HF Trainer: every step is visible here).

The base model is borrowed, not copied. PEFT wraps its target linear layers in
place for the run and ``unload()`` puts the original modules back afterwards,
also after an error or a cancel. The base weights are frozen and never merged,
so they come back bit-identical without a second copy of the model in memory;
their ``requires_grad`` flags and train/eval mode are restored as well.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from domalign.domain import TrainExample
from domalign.errors import Cancelled, InvalidInput
from domalign.store.atomic import atomic_dir
from domalign.train.checkpoint import (
    CheckpointState,
    list_checkpoints,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from domalign.train.config import TrainingConfig
from domalign.train.data import (
    IGNORE_INDEX,
    TrainData,
    batches_per_epoch,
    collate,
    epoch_batches,
    prepare_data,
    total_steps,
)

MAX_GRAD_NORM = 1.0


@dataclass
class TrainProgress:
    """Reported after every optimizer step; ``elapsed_s`` counts this call only, not resumed time."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    elapsed_s: float


@dataclass
class TrainResult:
    """What a finished run produced; ``losses`` covers every step, including those before a resume."""

    adapter_dir: Path
    steps: int
    final_loss: float
    losses: list[float]
    validation_loss: float | None
    resumed_from_step: int | None


def train_lora(
    model,
    tokenizer,
    examples: Sequence[TrainExample],
    config: TrainingConfig,
    *,
    output_dir: Path,
    checkpoint_dir: Path,
    on_progress: Callable[[TrainProgress], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on ``examples`` and save it to ``output_dir``; ``model`` is left as it was.

    Resumes from the newest checkpoint in ``checkpoint_dir`` if there is one.
    Raises ``Cancelled`` (after saving a checkpoint) once ``should_stop()`` is true.
    """
    data = prepare_data(tokenizer, examples, config)
    checkpoint_dir, output_dir = Path(checkpoint_dir), Path(output_dir)
    remove_stale_temporaries(checkpoint_dir)
    # fork_rng: seeding and dropout must not disturb the caller's random streams.
    with _num_threads(config.num_threads), torch.random.fork_rng(devices=_cuda_devices()):
        torch.manual_seed(config.seed)  # before PEFT initializes the LoRA weights
        with attached_lora(model, config) as peft_model:
            loop = _Loop(peft_model, tokenizer, data, config, checkpoint_dir)
            loop.resume()
            loop.run(on_progress, on_checkpoint, should_stop)
            if not loop.state.losses:
                raise InvalidInput(
                    f"training.max_time_s ({config.max_time_s} s) ended before the first step; give it more time"
                )
            validation_loss = loop.validation_loss()
            with atomic_dir(output_dir) as tmp:
                peft_model.save_pretrained(tmp)
                (tmp / "training_config.json").write_text(config.model_dump_json(indent=2))
    return TrainResult(
        adapter_dir=output_dir,
        steps=loop.state.step,
        final_loss=loop.state.losses[-1],
        losses=list(loop.state.losses),
        validation_loss=validation_loss,
        resumed_from_step=loop.resumed_from,
    )


@contextmanager
def attached_lora(model, config: TrainingConfig) -> Iterator:
    """Wrap ``model`` with a fresh LoRA adapter; on exit restore it exactly as it was."""
    from peft import LoraConfig, get_peft_model

    was_training = model.training
    grad_flags = [(param, param.requires_grad) for param in model.parameters()]
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as exc:
        raise InvalidInput(
            f"cannot attach LoRA to this model: {exc}; set training.target_modules to names of its linear layers"
        ) from exc
    try:
        yield peft_model
    finally:
        peft_model.unload()
        for param, flag in grad_flags:
            param.requires_grad_(flag)
        model.train(was_training)


class _Loop:
    """The state of one run: optimizer, schedule, position in the data, losses."""

    def __init__(self, peft_model, tokenizer, data: TrainData, config: TrainingConfig, checkpoint_dir: Path):
        from transformers import get_linear_schedule_with_warmup

        self.model, self.data, self.config, self.checkpoint_dir = peft_model, data, config, checkpoint_dir
        self.device = next(peft_model.parameters()).device
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad_id or 0  # any id will do: padding is masked from attention and loss
        self.total = total_steps(len(data.train), config)
        self.per_epoch = batches_per_epoch(len(data.train), config.batch_size)
        self.lengths = [len(item.input_ids) for item in data.train]
        self.params = [p for p in peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        warmup = math.ceil(config.warmup_ratio * self.total)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup, self.total)
        self.state = CheckpointState(step=0, micro_batch=0, losses=[], fingerprint=data.fingerprint)
        self.resumed_from: int | None = None
        self._epoch: tuple[int, list[list[int]]] = (-1, [])
        self._started = time.monotonic()

    def resume(self) -> None:
        found = list_checkpoints(self.checkpoint_dir)
        if found:
            self.state = load_checkpoint(
                found[-1], self.model, self.optimizer, self.scheduler, self.config, self.data.fingerprint
            )
            self.resumed_from = self.state.step

    def run(self, on_progress, on_checkpoint, should_stop) -> None:
        self.model.train()
        while self.state.step < self.total and not self._out_of_time():
            if should_stop is not None and should_stop():
                path = self._checkpoint(on_checkpoint)
                raise Cancelled(
                    f"training was cancelled at step {self.state.step} of {self.total}; "
                    f"checkpoint {path} lets the next run resume from there"
                )
            learning_rate = self.scheduler.get_last_lr()[0]
            loss = self._optimizer_step()
            self.state.step += 1
            self.state.losses.append(loss)
            if on_progress is not None:
                epoch = self.state.micro_batch / self.per_epoch
                elapsed = time.monotonic() - self._started
                on_progress(TrainProgress(self.state.step, self.total, epoch, loss, learning_rate, elapsed))
            if self.state.step % self.config.checkpoint_every == 0 and self.state.step < self.total:
                self._checkpoint(on_checkpoint)

    def _out_of_time(self) -> bool:
        budget = self.config.max_time_s
        return budget is not None and time.monotonic() - self._started >= budget

    def _optimizer_step(self) -> float:
        """One update over ``gradient_accumulation`` micro-batches; returns the mean token loss."""
        accumulation = self.config.gradient_accumulation
        batches = [self._micro_batch(self.state.micro_batch + i) for i in range(accumulation)]
        # Normalize by the step's token count so every token weighs the same, whatever its batch.
        n_tokens = sum(int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) for batch in batches)
        total = 0.0
        for batch in batches:
            loss_sum = _loss_sum(self.model, batch)
            (loss_sum / n_tokens).backward()
            total += loss_sum.item()
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.micro_batch += accumulation
        return total / n_tokens

    def _micro_batch(self, index: int) -> dict[str, torch.Tensor]:
        """Batch ``index`` of the endless stream: epoch after epoch, each in its seeded order."""
        epoch, position = divmod(index, self.per_epoch)
        if self._epoch[0] != epoch:
            order = epoch_batches(self.lengths, self.config.batch_size, seed=self.config.seed, epoch=epoch)
            self._epoch = (epoch, order)
        items = [self.data.train[i] for i in self._epoch[1][position]]
        return {key: value.to(self.device) for key, value in collate(items, self.pad_id).items()}

    def _checkpoint(self, on_checkpoint) -> Path:
        existing = list_checkpoints(self.checkpoint_dir)
        if existing and existing[-1].name == f"step-{self.state.step}":
            return existing[-1]  # e.g. cancelled right after a periodic save or a resume
        path = save_checkpoint(
            self.checkpoint_dir, self.model, self.optimizer, self.scheduler, self.state, self.config
        )
        if on_checkpoint is not None:
            on_checkpoint(self.state.step)
        return path

    @torch.no_grad()
    def validation_loss(self) -> float | None:
        """Mean token loss on the held-out examples, with dropout off."""
        if not self.data.validation:
            return None
        self.model.eval()
        items = sorted(self.data.validation, key=lambda item: len(item.input_ids))
        total, n_tokens = 0.0, 0
        for start in range(0, len(items), self.config.batch_size):
            batch = collate(items[start : start + self.config.batch_size], self.pad_id)
            batch = {key: value.to(self.device) for key, value in batch.items()}
            total += _loss_sum(self.model, batch).item()
            n_tokens += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        return total / n_tokens


def _loss_sum(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed next-token cross-entropy over the labelled positions (logits in float32)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )


@contextmanager
def _num_threads(count: int | None) -> Iterator[None]:
    """Apply ``num_threads`` for the run only; torch's setting is process-wide."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
