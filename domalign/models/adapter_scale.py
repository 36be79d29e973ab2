"""How strongly an aligned adapter speaks when retrieved passages are in the prompt.

An adapter trained mostly on closed-book items pulls answers toward what it
memorized and toward continuing raw text; with the right passage in front of
the question that pull costs answers the base model reads off correctly. So a
grounded answer has three views: a *reader* (the passages and the question, the
adapter at ``grounded_adapter_scale``), a *memory* (the question alone, the
adapter as trained) and a *prior* (the question alone, the base model), decoded
as one answer that adds the memory minus the prior to the reader at
``grounded_memory_weight`` (``domalign.models.fusion``). By default the base
model reads (scale 0): its rows run as PEFT's ``__base__``, and what the adapter
learned comes in through the memory (docs/quality.md compares scales). Between 0 and 1 a scaled copy of
the adapter, its *twin*, reads. Evaluation and grounded chat use the same scale
and weight, read from the adapter's own ``training_config.json`` so they travel
with the adapter; an adapter saved without them gets the current defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from domalign.train.config import saved_training_option

BASE_MODEL = "__base__"
"""PEFT's name, in a batch's per-row ``adapter_names``, for rows that run the base model without any adapter."""

GROUNDED_TWIN = "@grounded"
"""Suffix of the second copy of an adapter that reads passages at its grounded scale (PEFT scales per
adapter, not per row, so a batch that mixes scales needs two adapters)."""


def grounded_scale(adapter_dir: Path | None) -> float:
    """The adapter's ``grounded_adapter_scale`` (1.0 without an adapter: nothing to scale)."""
    return 1.0 if adapter_dir is None else float(saved_training_option(adapter_dir, "grounded_adapter_scale"))


def grounded_memory_weight(adapter_dir: Path | None) -> float:
    """The adapter's ``grounded_memory_weight`` (0 without an adapter: a base model has nothing to remember)."""
    return 0.0 if adapter_dir is None else float(saved_training_option(adapter_dir, "grounded_memory_weight"))


def lora_layers(model: Any) -> list[Any]:
    """PEFT's LoRA layers of ``model`` (none for a plain model)."""
    return [m for m in model.modules() if hasattr(m, "set_scale") and hasattr(m, "lora_A")]


def set_lora_scale(model: Any, adapter: str, scale: float) -> None:
    """Scale ``adapter``'s contribution by ``scale`` (1.0: as trained) in every LoRA layer."""
    for layer in lora_layers(model):
        layer.set_scale(adapter, scale)


def has_twin(grounded_scale: float) -> bool:
    """Whether serving loads a scaled copy of an adapter: at 1 the adapter itself reads passages and at 0 the
    base model does."""
    return 0.0 < grounded_scale < 1.0


def active_adapter(model: Any) -> str | None:
    """The name of ``model``'s active LoRA adapter; None for a model without one."""
    active = getattr(model, "active_adapters", None) if lora_layers(model) else None
    return active[0] if active else None


@contextmanager
def grounded_twin(model: Any, adapter: str, scale: float) -> Iterator[str]:
    """The name of a copy of ``adapter`` at ``scale``, a second adapter of ``model`` for the duration.

    Grounded evaluation decodes the reader (twin, with passages) and the memory
    (adapter as trained, without) in one batch; PEFT scales per adapter, not per
    row. The twin is deleted afterwards and ``adapter`` left active.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    twin = adapter + GROUNDED_TWIN
    frozen = not any(p.requires_grad for p in model.parameters())  # loaded for inference: keep it so
    model.add_adapter(twin, model.peft_config[adapter])
    try:
        set_peft_model_state_dict(model, get_peft_model_state_dict(model, adapter_name=adapter), adapter_name=twin)
        set_lora_scale(model, twin, scale)
        model.train(model.training)  # the twin's new dropout modules start in training mode
        model.set_adapter(adapter, inference_mode=frozen)
        yield twin
    finally:
        model.delete_adapter(twin)
        model.set_adapter(adapter, inference_mode=frozen)
