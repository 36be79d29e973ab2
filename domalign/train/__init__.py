"""The train stage: LoRA fine-tuning of a base model on synthesized examples.

``TrainingConfig`` imports without torch, so the API can validate training
options cheaply; ``train_lora`` and its result types load torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domalign.train.config import TrainingConfig

if TYPE_CHECKING:
    from domalign.train.lora import TrainProgress, TrainResult, train_lora

__all__ = ["TrainProgress", "TrainResult", "TrainingConfig", "train_lora"]

_LAZY = {"TrainProgress", "TrainResult", "train_lora"}


def __getattr__(name: str):
    if name in _LAZY:
        from domalign.train import lora

        return getattr(lora, name)
    raise AttributeError(f"module 'domalign.train' has no attribute {name!r}")
