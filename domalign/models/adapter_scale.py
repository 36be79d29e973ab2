"""How strongly an aligned adapter speaks when retrieved passages are in the prompt.

An adapter trained mostly on closed-book items pulls answers toward what it
memorized and toward continuing raw text; with the right passage in front of
the question that pull costs answers the base model reads off correctly. At
half strength the model keeps its domain knowledge and answer style and defers
more to the passages (docs/quality.md: grounded accuracy 0.830 → 0.850 on the
probes, where 0.5 was chosen, then 0.508 → 0.592 and 0.259 → 0.326 on the two
question sets that played no part in the choice). Evaluation and grounded chat
use the same scale, read from the adapter's own ``training_config.json`` so it
travels with the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from domalign.train.config import TrainingConfig

DEFAULT_GROUNDED_SCALE = TrainingConfig.model_fields["grounded_adapter_scale"].default


def grounded_scale(adapter_dir: Path | None) -> float:
    """The adapter's ``grounded_adapter_scale``; the default for adapters saved before the option existed."""
    if adapter_dir is None:
        return 1.0
    path = Path(adapter_dir) / "training_config.json"
    if not path.exists():
        return DEFAULT_GROUNDED_SCALE
    return float(json.loads(path.read_text()).get("grounded_adapter_scale", DEFAULT_GROUNDED_SCALE))


def lora_layers(model: Any) -> list[Any]:
    """PEFT's LoRA layers of ``model`` (none for a plain model)."""
    return [m for m in model.modules() if hasattr(m, "set_scale") and hasattr(m, "lora_A")]


def set_lora_scale(model: Any, adapter: str, scale: float) -> None:
    """Scale ``adapter``'s contribution by ``scale`` (1.0: as trained) in every LoRA layer."""
    for layer in lora_layers(model):
        layer.set_scale(adapter, scale)


@contextmanager
def lora_scaled(model: Any, scale: float) -> Iterator[Any]:
    """``model`` with its active adapters at ``scale`` for the duration; as trained again afterwards."""
    layers = lora_layers(model) if scale != 1.0 else []
    active = getattr(model, "active_adapters", None) if layers else None
    if not active:
        yield model
        return

    def set_all(value: float) -> None:
        for layer in layers:
            for adapter in active:
                layer.set_scale(adapter, value)

    set_all(scale)
    try:
        yield model
    finally:
        set_all(1.0)
