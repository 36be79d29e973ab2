"""Training options: one validated, documented model, saved with every checkpoint and adapter.

It imports neither torch nor transformers, so the API can validate a request's
``training`` options when an alignment is created, long before a worker trains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# Options that change how a run is executed or its adapter used rather than what it learns (precision
# only rounds differently); a run may resume from a checkpoint written with other values.
RUNTIME_ONLY_FIELDS = frozenset(
    {"checkpoint_every", "num_threads", "max_time_s", "precision", "grounded_adapter_scale", "grounded_memory_weight",
     "compile_layers", "route_general_questions"}
)


class TrainingConfig(BaseModel):
    """LoRA fine-tuning options with defaults that work for small instruct models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- length of training
    epochs: float = Field(3, gt=0, le=100, description="Passes over the training set; fractions allowed.")
    max_steps: int | None = Field(
        None, ge=1, description="Optimizer steps to run; overrides `epochs` when set."
    )

    max_time_s: float | None = Field(
        None, gt=0, description="Stop training after this many seconds (counted across resumes) and keep the "
        "adapter as it is then; the learning-rate schedule is sized to the steps that fit (compare recipes at "
        "equal wall time)."
    )

    # --- optimizer and schedule
    learning_rate: float = Field(
        1e-3, gt=0, le=1, description="Peak AdamW learning rate (1e-3 suits LoRA on models of ~100M parameters)."
    )
    batch_size: int = Field(8, ge=1, le=1024, description="Sequences per forward pass.")
    gradient_accumulation: int = Field(
        1, ge=1, le=1024, description="Forward passes per optimizer step (effective batch = batch_size × this)."
    )
    warmup_ratio: float = Field(
        0.05, ge=0, lt=1, description="Fraction of steps over which the learning rate ramps up linearly from 0."
    )
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay on the LoRA weights.")

    # --- LoRA adapter
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank: capacity of the adapter.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator; the update is scaled by alpha / r.")
    lora_dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout on the LoRA input during training. Off by default: on a CPU its "
        "random masks took over a quarter of each step, with no gain in held-out loss (docs/performance.md).",
    )
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        min_length=1,
        description="Names of the linear layers that get a LoRA adapter (llama-style names by default).",
    )

    grounded_adapter_scale: float = Field(
        0.0, ge=0, le=1,
        description="Strength of the adapter in the view that reads retrieved passages (grounded chat and the "
        "grounded evaluation): 1 reads as trained, 0 as the base model, which an adapter trained on closed-book "
        "items does not misread, while the closed-book view (`grounded_memory_weight`) brings in what the adapter "
        "learned (docs/quality.md compares scales). Saved with the adapter.",
    )
    grounded_memory_weight: float = Field(
        0.5, ge=0, le=1,
        description="Weight of what the adapter learned in a grounded answer: each token is chosen from the "
        "log-probabilities of the model reading the passages (adapter at `grounded_adapter_scale`) plus this weight "
        "times the difference between the adapter and the base model answering without them, so what training "
        "taught can outvote a misread passage while the base model's own guesses cannot; 0 reads the passages "
        "only, without the two closed-book rows (docs/quality.md). Saved with the adapter.",
    )
    route_general_questions: bool = Field(
        True,
        description="Answer questions that are not about the documents with the base model, without the adapter "
        "(evaluation and chat alike): a question that names nothing the documents name, or that names nothing and "
        "uses mostly words they never use, or none of whose words the documents use at least 5 times as often as "
        "English does. What the base model knew stays as it was instead of moving with training "
        "(docs/serving.md, docs/quality.md). Saved with the adapter.",
    )

    # --- data
    max_seq_len: int = Field(
        256, ge=8, le=32768,
        description="Tokens per example; longer ones are truncated (grounded items have their own limit).",
    )
    grounded_max_seq_len: int = Field(
        1024, ge=8, le=32768,
        description="Tokens per grounded example (retrieved passages → answer): its prompt holds whole passages, "
        "so it needs more room than the rest, which keep `max_seq_len`.",
    )
    pack_turns: int = Field(
        1, ge=1, le=64, description="Question/answer examples of a batch joined into one multi-turn conversation "
        "(up to `max_seq_len` tokens), so the chat template's head, such as a default system prompt, is computed "
        "once per conversation rather than once per example; 1 trains every example as a sequence of its own.",
    )
    packing: bool = Field(
        True, description="Put a batch's examples end to end in rows of about 256 tokens (wider where one example "
        "is longer), each attending only to itself, so batches can be drawn at random (lower held-out loss than "
        "length-sorted ones) with little padding; off: padded rows of similar length. A model whose attention does "
        "not keep packed examples apart is detected before the first step and trained padded.",
    )
    loss_on_completion_only: bool = Field(
        True, description="Learn only the answer of prompted examples, not the prompt (raw text is always learned)."
    )
    validation_fraction: float = Field(
        0.05, ge=0, le=0.5, description="Share of examples held out for the validation loss (reported at the end; "
        "early stopping watches it)."
    )
    seed: int = Field(0, ge=0, description="Seed for adapter init, data order, dropout and the validation split.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop once the validation loss has not improved for this many checks in a row "
        "(checks every `validation_every` steps; needs validation_fraction > 0). Unset: no early stopping."
    )
    validation_every: int = Field(100, ge=1, description="Steps between validation checks when early stopping is on.")

    # --- runtime
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Matrix-multiply precision: `bf16` autocast (fp32 master weights and loss), `fp32`, "
        "or `auto` = bf16 where the hardware computes it natively (CUDA, CPUs with AVX512-BF16 or AMX), else fp32."
    )
    compile_layers: Literal["auto", "on", "off"] = Field(
        "auto", description="Compile each decoder layer with `torch.compile` for the run (one graph that every "
        "layer reuses), which fuses the many small element-wise kernels around the matrix products; `auto` = on "
        "a GPU only, where those kernels and their launches took most of a step (docs/performance.md). The "
        "first step waits for the compiler (about 20 s on an H200, 35 s on a 2-core CPU, where `on` trains "
        "faster once compiled but short runs gain little).",
    )
    checkpoint_every: int = Field(50, ge=1, description="Save a resumable checkpoint every this many steps.")
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for torch; unset keeps torch's default."
    )

    @model_validator(mode="after")
    def _check_modules(self) -> TrainingConfig:
        if any(not name.strip() for name in self.target_modules):
            raise ValueError("target_modules holds an empty name; list layer names such as 'q_proj'")
        if self.early_stopping_patience is not None and self.validation_fraction == 0:
            raise ValueError("early_stopping_patience needs a validation split; set validation_fraction > 0")
        return self

    def resume_fields(self) -> dict:
        """The options a checkpoint must share with this config for a resumed run to be equivalent."""
        return self.model_dump(mode="json", exclude=set(RUNTIME_ONLY_FIELDS))


def saved_training_option(adapter_dir: Path, name: str, before: Any = None) -> Any:
    """An option from an adapter's ``training_config.json``, saved with it so that chat answers as the evaluation
    did; for an adapter saved before the option existed, ``before`` (what it did then) or else today's default."""
    path = Path(adapter_dir) / "training_config.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    return saved.get(name, TrainingConfig.model_fields[name].default if before is None else before)
