"""Whether to compute in bf16: used by training and evaluation alike.

bf16 autocast halves the cost of every matrix product where the hardware has
native bf16 (CUDA, CPUs with AVX512-BF16 or AMX) and slows it down where it is
emulated, so ``auto`` asks the hardware rather than assuming.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16"]


def use_bf16(precision: Precision, device: torch.device) -> bool:
    """Whether ``precision`` means bf16 autocast on ``device``."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":  # Ampere (8.x) and later; is_bf16_supported() also counts emulation
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


def autocast(precision: Precision, device: torch.device) -> AbstractContextManager:
    """bf16 autocast on ``device`` when ``precision`` resolves to bf16; a no-op context otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16(precision, device))
