"""Prompts of very different lengths in one ``generate`` batch, without prefilling the short ones at the long
ones' width.

A fused grounded answer decodes a reader row (passages + question, hundreds of tokens) beside two
closed-book rows (the question alone, a few dozen, for the adapter and the base model). Left-padded
together, every closed-book row is run at the reader's width in the prefill, for tokens that are then
masked out. Filling the cache one group at a time (the rows of one adapter, split further where asked,
such as a base model's rows with passages from its closed-book ones), each group at its own width, and
laying the groups side by side (shorter rows left-padded with masked zeros) gives ``generate`` the same
cache for a fraction of the work.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch


def left_padded(rows: Sequence[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of ``rows`` padded on the left, so every row ends where generation starts."""
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[row, width - len(ids) :] = 1
    return input_ids, mask


RowCache = list[tuple[torch.Tensor, torch.Tensor]]
"""One row's cache: per layer, keys and values shaped ``(1, heads, tokens, head size)``."""


def prompt_cache(cache: Any, tokens: int) -> RowCache | None:
    """The first ``tokens`` positions of a one-row model cache, to hand to :func:`grouped_prefill` later;
    ``None`` for a cache that is not one plain key/value tensor per layer."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    return [(layer.keys[:, :, :tokens], layer.values[:, :, :tokens]) for layer in layers]


def grouped_prefill(
    model: Any, rows: Sequence[list[int]], adapters: Sequence[str | None], pad: int,
    known: Sequence[RowCache | None] | None = None, groups: Sequence[Hashable] | None = None,
) -> Any | None:
    """A cache of every row but its last token, for ``generate`` with :func:`left_padded` ``rows``.

    The rows of one PEFT adapter (``adapters``, one name per row; None: the model as it is) are prefilled
    together at their own width; ``groups`` (one key per row) splits them further, such as the base model's
    rows with passages from its closed-book ones. A row with a ``known`` cache of all its tokens but the last
    (:func:`prompt_cache`, made by the same model and adapter) is not run again.
    ``None`` where this does not apply: a model whose cache is not one plain key/value tensor per layer
    (sliding windows, state-space layers), or nothing to prefill; ``generate`` then prefills itself.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    width = max(len(ids) for ids in rows) - 1
    if width < 1 or any(type(layer) is not DynamicLayer for layer in DynamicCache(config=model.config).layers):
        return None
    known = list(known) if known is not None else [None] * len(rows)
    device = next(model.parameters()).device
    keys: list[torch.Tensor] = []
    values: list[torch.Tensor] = []

    def place(members: list[int], layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Lay the members' ``(rows, heads, tokens, head size)`` keys and values right-aligned into the batch."""
        if not keys:  # (rows, heads, width, head size) per layer, zeros where a row is shorter
            keys.extend(_widened(key, len(rows), width) for key, _ in layers)
            values.extend(_widened(value, len(rows), width) for _, value in layers)
        index, start = torch.tensor(members, device=device), width - layers[0][0].shape[2]
        for (key, value), all_keys, all_values in zip(layers, keys, values, strict=True):
            all_keys[index, :, start:] = key.to(device=device, dtype=all_keys.dtype)
            all_values[index, :, start:] = value.to(device=device, dtype=all_values.dtype)

    for row, cache in enumerate(known):
        if cache is not None and cache[0][0].shape[2] == len(rows[row]) - 1 > 0:
            place([row], cache)
        else:
            known[row] = None
    row_groups = list(zip(adapters, groups if groups is not None else adapters, strict=True))
    for group in dict.fromkeys(row_groups):
        members = [row for row, key in enumerate(row_groups) if key == group and known[row] is None]
        prefixes = [rows[row][:-1] for row in members]
        if not any(prefixes):
            continue
        ids, mask = left_padded(prefixes, pad)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate numbers left-padded rows
        adapter = group[0]
        named = {} if adapter is None else {"adapter_names": [adapter] * len(members)}
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    use_cache=True, logits_to_keep=1, **named)
        place(members, [(layer.keys, layer.values) for layer in out.past_key_values.layers])
    return DynamicCache(ddp_cache_data=list(zip(keys, values, strict=True))) if keys else None


def _widened(group: torch.Tensor, rows: int, width: int) -> torch.Tensor:
    """Zeros shaped like one group's ``(rows, heads, width, head size)`` keys or values, for all rows."""
    return group.new_zeros((rows, group.shape[1], width, group.shape[3]))
