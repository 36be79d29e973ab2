"""Whether to compute in bf16: used by training and evaluation alike.

bf16 autocast halves the cost of every matrix product where the hardware has
native bf16 (CUDA, CPUs with AVX512-BF16 or AMX) and slows it down where it is
emulated, so ``auto`` asks the hardware rather than assuming.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
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


@contextmanager
def tf32_products(precision: Precision, device: torch.device) -> Iterator[None]:
    """On CUDA under bf16 precision, the float32 matrix products that remain run on TF32 tensor cores.

    What autocast leaves in float32 is the output layer, whose logits training
    keeps in float32. By count, on a 1B model's step of 8k tokens that product
    is about 2 TFLOP: some 30 ms on an H200's plain float32 units against a few
    on its TF32 ones, with float32 range and output. Training sets it for the
    whole run, backward passes included (they run outside autocast), and it is
    restored on exit. A run that asked for fp32 keeps full float32 products.
    """
    matmul = torch.backends.cuda.matmul
    if device.type != "cuda" or not use_bf16(precision, device) or not hasattr(matmul, "fp32_precision"):
        yield
        return
    previous = matmul.fp32_precision
    matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision = previous
