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
from domalign.models.precision import autocast, tf32_products
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
    MEGA_BATCH,
    TrainData,
    batches_per_epoch,
    collate,
    collate_packed,
    epoch_batches,
    pack,
    packed_rows,
    prepare_data,
    total_steps,
)
from domalign.train.parallel import SINGLE, Parallel

MAX_GRAD_NORM = 1.0
TIMING_STEPS = 5  # steps a time-budgeted run times before it plans the length of its schedule
REPLAN_EVERY = 25  # steps between revisions of that plan
EAGER_MAX_TOKENS = 1024  # the longest item a CPU run trains with eager attention (its scores grow as length²)
PACKING_CHECK_ITEMS = 4  # items packed to check the model keeps them apart (in fp32: keep it small)


@dataclass
class TrainProgress:
    """Reported after every optimizer step; ``elapsed_s`` counts this call only, not resumed time."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    elapsed_s: float
    validation_loss: float | None = None  # set on the steps that ran an early-stopping check


@dataclass
class TrainResult:
    """What a finished run produced; ``losses`` covers every step, including those before a resume."""

    adapter_dir: Path
    steps: int
    final_loss: float
    losses: list[float]
    validation_loss: float | None
    resumed_from_step: int | None
    stopped_early: bool = False


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
    parallel: Parallel = SINGLE,
) -> TrainResult:
    """Train a LoRA adapter on ``examples`` and save it to ``output_dir``; ``model`` is left as it was.

    Resumes from the newest checkpoint in ``checkpoint_dir`` if there is one.
    Raises ``Cancelled`` (after saving a checkpoint) once ``should_stop()`` is true.
    Under data parallelism (``parallel``) every process calls this with the same
    arguments; only the main one calls the callbacks and writes files.
    """
    data = prepare_data(tokenizer, examples, config)
    if config.early_stopping_patience is not None and not data.validation:
        raise InvalidInput(
            f"early stopping needs validation examples, but validation_fraction={config.validation_fraction} of "
            f"{len(examples)} examples holds none out; raise validation_fraction or turn early stopping off"
        )
    checkpoint_dir, output_dir = Path(checkpoint_dir), Path(output_dir)
    if parallel.is_main:
        remove_stale_temporaries(checkpoint_dir)
    parallel.barrier()
    # fork_rng: seeding and dropout must not disturb the caller's random streams.
    longest = max(len(item.input_ids) for item in data.train)
    with _num_threads(config.num_threads), _cpu_attention(model, longest), \
            torch.random.fork_rng(devices=_cuda_devices()):
        torch.manual_seed(config.seed)  # before PEFT initializes the LoRA weights
        with attached_lora(model, config) as peft_model:
            if parallel.world_size > 1:
                torch.manual_seed(config.seed + parallel.rank)  # same LoRA init everywhere, own dropout draws
            loop = _Loop(peft_model, tokenizer, data, config, checkpoint_dir, parallel)
            loop.resume()
            loop.run(on_progress, on_checkpoint, should_stop)
            if not loop.state.losses:
                raise InvalidInput(
                    f"training.max_time_s ({config.max_time_s} s) ended before the first step; give it more time"
                )
            validation_loss = loop.validation_loss()
            if parallel.is_main:
                with atomic_dir(output_dir) as tmp:
                    peft_model.save_pretrained(tmp)
                    (tmp / "training_config.json").write_text(config.model_dump_json(indent=2))
            parallel.barrier()
    return TrainResult(
        adapter_dir=output_dir,
        steps=loop.state.step,
        final_loss=loop.state.losses[-1],
        losses=list(loop.state.losses),
        validation_loss=validation_loss,
        resumed_from_step=loop.resumed_from,
        stopped_early=loop.stopped_early(),
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

    def __init__(self, peft_model, tokenizer, data: TrainData, config: TrainingConfig, checkpoint_dir: Path,
                 parallel: Parallel = SINGLE):
        self.model, self.data, self.config, self.checkpoint_dir = peft_model, data, config, checkpoint_dir
        self.parallel = parallel
        self.device = next(peft_model.parameters()).device
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad_id or 0  # any id will do: padding is masked from attention and loss
        self.total = self.config_total = total_steps(len(data.train), config)
        self.per_epoch = batches_per_epoch(len(data.train), config.batch_size)
        self.lengths = [len(item.input_ids) for item in data.train]
        self.params = [p for p in peft_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.schedule = WarmupLinearDecay(config.warmup_ratio, self.total)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.state = CheckpointState(step=0, micro_batch=0, losses=[], fingerprint=data.fingerprint)
        self.resumed_from: int | None = None
        self._epoch: tuple[tuple[int, bool] | None, list[list[int]]] = (None, [])  # (epoch, packed) and its batches
        self._started = time.monotonic()
        self._first_step_done: float | None = None  # when the run's first step here ended, and its number
        self._first_step_number = 0
        self.loss_fn = _loss_sum
        self.packed = config.packing

    def resume(self) -> None:
        found = self.parallel.from_main(list_checkpoints(self.checkpoint_dir))  # one view of a shared folder
        if found:
            self.state = load_checkpoint(
                found[-1], self.model, self.optimizer, self.scheduler, self.config, self.data.fingerprint
            )
            self.resumed_from = self.state.step
            self._started -= self.state.elapsed_s  # the budget covers the whole run, not each resume
            if self.state.planned_steps is not None and self.config.max_time_s is not None:
                self.total = self.state.planned_steps

    def run(self, on_progress, on_checkpoint, should_stop) -> None:
        self.model.train()
        if self.state.packed is not None:
            self.packed = self.state.packed  # a resumed run keeps its data order, whatever a check would say now
        elif self.parallel.is_main and self.packed:
            self.packed = _packing_holds(self.model, self._batch_items(self.state.micro_batch), self.pad_id)
        self.packed = self.state.packed = self.parallel.from_main(self.packed)
        if self.parallel.is_main:
            self.loss_fn = _pick_loss(self.model, self._micro_batch(self.state.micro_batch))
        self.loss_fn = self.parallel.from_main(self.loss_fn)
        # after the checks (they run in eval mode); both settings hold for the run and are undone after it
        with _compiled_layers(self.model, self.config.compile_layers), \
                tf32_products(self.config.precision, self.device):
            self._steps(on_progress, on_checkpoint, should_stop)

    def _steps(self, on_progress, on_checkpoint, should_stop) -> None:
        while True:
            verdict, total = self.parallel.from_main((self._verdict(should_stop), self.total))
            if total != self.total:
                self._set_total(total)  # the main process re-planned the schedule
            if verdict == "done":
                return
            if verdict == "cancel":
                path = self._checkpoint(on_checkpoint)
                raise Cancelled(
                    f"training was cancelled at step {self.state.step} of {self.total}; "
                    f"checkpoint {path} lets the next run resume from there"
                )
            learning_rate = self.scheduler.get_last_lr()[0]
            loss = self._optimizer_step()
            self.state.step += 1
            self.state.losses.append(loss)
            if self.parallel.is_main:
                self._plan_to_budget()
            checked = self._early_stopping_check()
            if on_progress is not None and self.parallel.is_main:
                epoch = self.state.micro_batch / self.per_epoch
                elapsed = time.monotonic() - self._started
                on_progress(TrainProgress(self.state.step, self.total, epoch, loss, learning_rate, elapsed, checked))
            if self.state.step % self.config.checkpoint_every == 0 and self.state.step < self.total:
                self._checkpoint(on_checkpoint)

    def _verdict(self, should_stop) -> str:
        """Whether to take another step ("go"), stop ("done") or cancel; the main process's call."""
        if self.state.step >= self.total or self._out_of_time() or self.stopped_early():
            return "done"
        return "cancel" if should_stop is not None and should_stop() else "go"

    def _early_stopping_check(self) -> float | None:
        """Every ``validation_every`` steps with early stopping on: the validation loss, recorded."""
        if self.config.early_stopping_patience is None or self.state.step % self.config.validation_every:
            return None
        loss = self.validation_loss()
        self.model.train()
        self.state.validation.append((self.state.step, loss))
        return loss

    def stopped_early(self) -> bool:
        """The last ``patience`` checks all failed to beat the best loss seen before them."""
        patience = self.config.early_stopping_patience
        losses = [loss for _, loss in self.state.validation]
        if patience is None or len(losses) <= patience:
            return False
        return min(losses[-patience:]) >= min(losses[:-patience])

    def _out_of_time(self) -> bool:
        budget = self.config.max_time_s
        return budget is not None and time.monotonic() - self._started >= budget

    def _plan_to_budget(self) -> None:
        """Size a time-budgeted run's schedule to the steps that fit, so its rate decays to 0 in time.

        Without this, a budget shorter than ``epochs`` would stop the run near its
        peak learning rate. The plan is made after ``TIMING_STEPS`` steps and
        revised every ``REPLAN_EVERY`` steps from the mean pace so far (batches
        differ in length, so the first steps alone mislead); the first step is
        left out of the timing (warm-up costs).
        """
        budget = self.config.max_time_s
        if budget is None:
            return
        now = time.monotonic()
        if self._first_step_done is None:
            self._first_step_done, self._first_step_number = now, self.state.step
            return
        timed = self.state.step - self._first_step_number
        if timed < TIMING_STEPS or (self.state.planned_steps is not None and timed % REPLAN_EVERY):
            return
        per_step = max((now - self._first_step_done) / timed, 1e-9)
        remaining = budget - (now - self._started)
        planned = min(self.config_total, self.state.step + max(0, math.floor(remaining / per_step)))
        self._set_total(max(planned, self.state.step))

    def _set_total(self, total: int) -> None:
        self.state.planned_steps = self.total = total
        self.schedule.resize(total, self.scheduler.last_epoch)
        # the rate of the next step was computed under the old plan; recompute it under the new one
        for group, base_lr in zip(self.optimizer.param_groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = base_lr * self.schedule(self.scheduler.last_epoch)

    def _autocast(self):
        return autocast(self.config.precision, self.device)

    def _optimizer_step(self) -> float:
        """One update over ``gradient_accumulation`` micro-batches; returns the mean token loss."""
        accumulation = self.config.gradient_accumulation
        batches = [self._micro_batch(self.state.micro_batch + i) for i in range(accumulation)]
        batches = [batch for batch in batches if batch is not None]  # this process's share may be empty
        # Normalize by the step's token count (over all processes) so every token weighs the same.
        n_tokens = self.parallel.sum(sum(_labelled(batch) for batch in batches))
        total = 0.0
        for batch in batches:
            with self._autocast():
                loss_sum = self.loss_fn(self.model, batch)
            (loss_sum / n_tokens).backward()
            total += loss_sum.item()
        self.parallel.sum_gradients(self.params)
        total = self.parallel.sum(total)
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.micro_batch += accumulation
        return total / n_tokens

    def _batch_items(self, index: int) -> list:
        """This process's share of batch ``index`` of the endless stream: epoch after epoch, each in its
        seeded order (random batches when packed, length-sorted groups when padded)."""
        epoch, position = divmod(index, self.per_epoch)
        if self._epoch[0] != (epoch, self.packed):
            order = epoch_batches(self.lengths, self.config.batch_size, seed=self.config.seed, epoch=epoch,
                                  mega_batch=1 if self.packed else MEGA_BATCH)
            self._epoch = ((epoch, self.packed), order)
        share = self.parallel.shard([self.data.train[i] for i in self._epoch[1][position]])
        return pack(share, self.config.pack_turns, self.config.max_seq_len)

    def _micro_batch(self, index: int) -> dict[str, torch.Tensor] | None:
        """Batch ``index`` as model inputs; None when this process's share of it is empty."""
        return self._collate(self._batch_items(index), packed=self.packed)

    def _collate(self, items: list, *, packed: bool = False) -> dict[str, torch.Tensor] | None:
        """Packed rows, or one padded row per item."""
        if not items:
            return None
        tensors = collate_packed(packed_rows(items), self.pad_id) if packed else collate(items, self.pad_id)
        return {key: value.to(self.device) for key, value in tensors.items()}

    def _checkpoint(self, on_checkpoint) -> Path:
        """Save a checkpoint (the main process; the others only name it)."""
        if not self.parallel.is_main:
            return self.checkpoint_dir / f"step-{self.state.step}"
        existing = list_checkpoints(self.checkpoint_dir)
        if existing and existing[-1].name == f"step-{self.state.step}":
            return existing[-1]  # e.g. cancelled right after a periodic save or a resume
        self.state.elapsed_s = time.monotonic() - self._started
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
            batch = self._collate(self.parallel.shard(items[start : start + self.config.batch_size]))
            if batch is None:
                continue
            with self._autocast():
                total += self.loss_fn(self.model, batch).item()
            n_tokens += _labelled(batch)
        return self.parallel.sum(total) / self.parallel.sum(n_tokens)


def _labelled(batch: dict[str, torch.Tensor]) -> int:
    """Positions of ``batch`` that carry a next-token label."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's inputs from a padded batch (attention mask) or a packed one (position ids)."""
    return {key: value for key, value in batch.items() if key != "labels"}


def _loss_sum(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed next-token cross-entropy over the labelled positions (logits in float32)."""
    out = model(**_inputs(batch), use_cache=False)
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def _labelled_loss_sum(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The same loss with the output layer applied only where there is a label.

    The 49k-word output layer is a fifth of a small model's compute, and most
    positions of a question/answer example (the prompt) carry no label.
    """
    base = model.get_base_model()
    hidden = base.get_decoder()(**_inputs(batch), use_cache=False).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    head = base.get_output_embeddings()
    bias = None if head.bias is None else head.bias.float()
    with torch.autocast(device_type=hidden.device.type, enabled=False):  # fp32 logits, whatever the weights
        logits = F.linear(hidden[:, :-1][keep].float(), head.weight.float(), bias)
    return F.cross_entropy(logits, labels[keep], reduction="sum")


def _pick_loss(model, batch: dict[str, torch.Tensor]) -> Callable:
    """``_labelled_loss_sum`` when it gives this model's own loss (no logit scaling or soft-capping).

    Checked once per run on a real batch, in full precision and eval mode (no
    dropout, so no random draw that would make a resumed run diverge), rather
    than trusted from a list of architectures.
    """
    was_training = model.training
    model.eval()
    try:
        base = model.get_base_model()
        # a plain Linear head only: one with a LoRA of its own would get no gradient from F.linear
        if base.get_decoder() is None or type(base.get_output_embeddings()) is not torch.nn.Linear:
            return _loss_sum
        with torch.no_grad():
            reference, fast = _loss_sum(model, batch), _labelled_loss_sum(model, batch)
    except (AttributeError, TypeError, NotImplementedError):
        return _loss_sum
    finally:
        model.train(was_training)
    # bf16 weights give bf16 logits in the reference, so compare at bf16's resolution then
    low_precision = next(model.parameters()).dtype != torch.float32
    rtol = 1e-2 if low_precision else 1e-4
    return _labelled_loss_sum if torch.allclose(reference, fast, rtol=rtol, atol=1e-3) else _loss_sum


def _packing_holds(model, items: list, pad_id: int) -> bool:
    """Whether ``model`` keeps packed examples apart: their loss packed equals their loss padded.

    An attention implementation that ignores packed position ids would let each
    example read the ones before it. Checked once per run on real items, in eval
    mode, rather than trusted from a list of architectures.
    """
    items = items[:PACKING_CHECK_ITEMS]
    if len(items) < 2:
        return True  # a row of one item is a padded row without padding
    # two rows where there are enough items (some kernels read packed positions only in a batch of one row)
    rows = [items[:2], items[2:]] if len(items) > 2 else [items]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            layouts = collate_packed(rows, pad_id), collate(items, pad_id)
            packed, padded = (_loss_sum(model, {k: v.to(device) for k, v in t.items()}) for t in layouts)
    finally:
        model.train(was_training)
    rtol = 1e-2 if next(model.parameters()).dtype != torch.float32 else 1e-4
    return bool(torch.allclose(packed, padded, rtol=rtol, atol=1e-3))


class WarmupLinearDecay:
    """Learning-rate factor: linear warm-up over ``warmup_ratio`` of ``total`` steps, then linear decay to 0.

    A class rather than a closure so that ``LambdaLR`` saves ``total`` in its
    state, which a time-budgeted run changes once it knows its pace.
    """

    def __init__(self, warmup_ratio: float, total: int):
        self.warmup_ratio, self.total = warmup_ratio, total
        self.finished_warmup: int | None = None  # the warm-up's length once it is over

    def warmup(self) -> int:
        if self.finished_warmup is not None:
            return self.finished_warmup
        return math.ceil(self.warmup_ratio * self.total)

    def resize(self, total: int, step: int) -> None:
        """Re-plan to ``total`` steps at ``step``; a finished warm-up keeps its length.

        Otherwise a longer plan would stretch the warm-up past the current step
        again, and a run re-planned near its peak could miss the peak rate.
        """
        if self.finished_warmup is None and step >= self.warmup():
            self.finished_warmup = self.warmup()
        self.total = total

    def __call__(self, step: int) -> float:
        warmup = self.warmup()
        if step < warmup:
            return step / warmup
        return max(0.0, (self.total - step) / max(1, self.total - warmup))


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


@contextmanager
def _cpu_attention(model, longest: int) -> Iterator[None]:
    """Eager attention for a run on a CPU whose rows are short, then the model's own again.

    On training's short rows, torch's fused CPU attention (SDPA) took about a
    quarter more time per step than plain matrix products (forward and backward,
    packed or padded: docs/performance.md). Eager attention keeps a score matrix
    of a row's width squared per layer for the backward pass, so a run with items
    longer than ``EAGER_MAX_TOKENS`` keeps the model's choice, as other devices do.
    """
    previous = getattr(model.config, "_attn_implementation", None)
    on_cpu = next(model.parameters()).device.type == "cpu"
    switch = on_cpu and longest <= EAGER_MAX_TOKENS and previous not in (None, "eager")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(previous)


@contextmanager
def _compiled_layers(model, setting: str) -> Iterator[None]:
    """Each decoder layer compiled for the run (``setting`` "on", or "auto" on a GPU), then plain again.

    Regional compilation: the layers share one class, so one graph serves all of
    them (about 20 s of compiling for a 1B llama on an H200, docs/performance.md).
    ``Module.compile`` compiles in place, keeping the parameters' names (which
    the adapter is saved under); undoing it clears the attribute it sets.
    """
    layers = getattr(model.get_base_model().get_decoder(), "layers", None)
    on = setting == "on" or (setting == "auto" and next(model.parameters()).device.type == "cuda")
    if not on or layers is None:
        yield
        return
    for layer in layers:
        layer.compile()
    try:
        yield
    finally:
        for layer in layers:
            vars(layer).pop("_compiled_call_impl", None)


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
