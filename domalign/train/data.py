"""Turn ``TrainExample``s into token ids, labels and padded batches.

Prompted examples are rendered with the tokenizer's own chat template, the
same one inference uses, so the adapter learns the format it will be asked in.
The prompt and the answer are tokenized separately and joined: that is exactly
what generation sees (the prompt, then tokens the model produces), and it puts
the loss mask on a token boundary without offset mapping.

Data order is a pure function of (seed, epoch), so a resumed run needs only
its position in the stream to see the same batches as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domalign.domain import GROUNDED_KIND, TrainExample
from domalign.errors import InvalidInput

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from domalign.train.config import TrainingConfig

IGNORE_INDEX = -100  # the label value torch's cross-entropy skips
MEGA_BATCH = 50  # batches per length-sorted group: enough to cut padding, few enough to stay shuffled
ROW_TOKENS = 256  # tokens per packed row: attention inside a row costs its length squared
PACKING_TRIES = 8  # extra row counts tried beyond the fewest that hold a batch


@dataclass(frozen=True)
class Encoded:
    """One tokenized example; ``labels`` is ``IGNORE_INDEX`` where no loss is taken.

    A chat example also knows its prompt as a *later* turn of a conversation
    (``turn_ids``: without the template's head, such as a default system prompt)
    and where its answer starts, so that ``pack`` can join several into one sequence.
    """

    input_ids: list[int]
    labels: list[int]
    turn_ids: list[int] | None = None
    prompt_len: int = 0


@dataclass(frozen=True)
class TrainData:
    """Encoded training and validation sets plus a fingerprint of the examples they came from."""

    train: list[Encoded]
    validation: list[Encoded]
    fingerprint: str


def prepare_data(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[TrainExample], config: TrainingConfig
) -> TrainData:
    """Split off the validation set (deterministically, by seed) and encode both parts."""
    if not examples:
        raise InvalidInput("no training examples were given; synthesize examples from the documents first")
    train_idx, val_idx = split_validation(len(examples), config.validation_fraction, config.seed)

    def encode_all(indices: list[int]) -> list[Encoded]:
        encoded = (encode_example(tokenizer, examples[i], config) for i in indices)
        return [item for item in encoded if item is not None]

    train = encode_all(train_idx)
    if not train:
        raise InvalidInput(
            f"every training example lost its answer to truncation at max_seq_len={config.max_seq_len}; "
            "raise max_seq_len or shorten the prompts"
        )
    return TrainData(train, encode_all(val_idx), examples_fingerprint(examples))


def split_validation(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Hold out ``floor(count × fraction)`` examples, but never all of them."""
    n_val = int(count * fraction)
    if n_val == 0 or n_val >= count:
        return list(range(count)), []
    order = list(range(count))
    random.Random(f"{seed}:validation").shuffle(order)
    return sorted(order[n_val:]), sorted(order[:n_val])


def encode_example(
    tokenizer: PreTrainedTokenizerBase, example: TrainExample, config: TrainingConfig
) -> Encoded | None:
    """Tokenize, mask and truncate one example; ``None`` when truncation left nothing to learn."""
    if example.prompt is None:
        ids = tokenizer(example.completion, add_special_tokens=True)["input_ids"]
        if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
            ids = ids + [tokenizer.eos_token_id]
        labels = list(ids)
        turn_ids, prompt_len = None, 0
    else:
        prefix, answer = render_chat(tokenizer, example.prompt, example.completion)
        prompt_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids = prompt_ids + answer_ids
        masked = [IGNORE_INDEX] * len(prompt_ids) if config.loss_on_completion_only else prompt_ids
        labels = masked + answer_ids
        joinable = config.pack_turns > 1 and config.loss_on_completion_only
        later = render_later_turn(tokenizer, example.prompt) if joinable else None
        turn_ids = tokenizer(later, add_special_tokens=False)["input_ids"] if later is not None else None
        prompt_len = len(prompt_ids)
    limit = config.grounded_max_seq_len if example.kind == GROUNDED_KIND else config.max_seq_len
    if len(ids) > limit:
        ids, labels, turn_ids = ids[:limit], labels[:limit], None  # never joined
    if all(label == IGNORE_INDEX for label in labels[1:]):  # the first label is never predicted
        return None
    return Encoded(ids, labels, turn_ids, prompt_len)


def render_chat(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str) -> tuple[str, str]:
    """Return (the prompt as the template renders it for generation, the answer that follows it)."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInput(
            "the base model's tokenizer has no chat template, so question/answer examples cannot be "
            "rendered; choose an instruct model or train on raw text only"
        )
    user = [{"role": "user", "content": prompt}]
    prefix = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        user + [{"role": "assistant", "content": completion}], tokenize=False
    )
    if not full.startswith(prefix):
        raise InvalidInput(
            "the chat template renders the conversation differently from its generation prompt, so the "
            "answer cannot be located for loss masking; set loss_on_completion_only=false or use another model"
        )
    answer = full[len(prefix) :]
    if tokenizer.eos_token and tokenizer.eos_token not in answer:
        answer += tokenizer.eos_token  # the model must learn to stop
    return prefix, answer


def render_later_turn(tokenizer: PreTrainedTokenizerBase, prompt: str) -> str | None:
    """The prompt as the chat template renders it after an earlier exchange: the user turn and the
    generation prompt, without the head the template puts before a first turn. ``None`` when the
    template does not render conversations as a plain sequence of turns."""
    earlier = [{"role": "user", "content": "?"}, {"role": "assistant", "content": "."}]
    before = tokenizer.apply_chat_template(earlier, tokenize=False)
    after = tokenizer.apply_chat_template(earlier + [{"role": "user", "content": prompt}], tokenize=False,
                                          add_generation_prompt=True)
    return after[len(before):] if after.startswith(before) else None


def pack(items: Sequence[Encoded], turns: int, max_len: int) -> list[Encoded]:
    """Join consecutive chat items into conversations of up to ``turns`` exchanges and ``max_len`` tokens.

    The first item keeps its whole prompt; each later one adds its prompt as a later turn (no system
    head again) and its answer, learned as before. Every item still has its own answer tokens, but the
    template's head, often a default system prompt, is paid once per conversation instead of once per
    item. Raw-text items and items that cannot be joined stay sequences of their own.
    """
    if turns <= 1:
        return list(items)
    out: list[Encoded] = []
    current: Encoded | None = None
    joined = 0
    for item in items:
        if item.turn_ids is None:
            out.append(item)
            continue
        answer_ids, answer_labels = item.input_ids[item.prompt_len :], item.labels[item.prompt_len :]
        grown = len(current.input_ids) + len(item.turn_ids) + len(answer_ids) if current is not None else 0
        if current is not None and joined < turns and grown <= max_len:
            current = Encoded(current.input_ids + item.turn_ids + answer_ids,
                              current.labels + [IGNORE_INDEX] * len(item.turn_ids) + answer_labels, current.turn_ids,
                              current.prompt_len)
            joined += 1
            continue
        if current is not None:
            out.append(current)
        current, joined = item, 1
    if current is not None:
        out.append(current)
    return out


def batches_per_epoch(train_size: int, batch_size: int) -> int:
    return math.ceil(train_size / batch_size)


def total_steps(train_size: int, config: TrainingConfig) -> int:
    """Optimizer steps in the run: ``max_steps`` if set, else enough for ``epochs`` passes."""
    if config.max_steps is not None:
        return config.max_steps
    micro = config.epochs * batches_per_epoch(train_size, config.batch_size)
    return max(1, math.ceil(micro / config.gradient_accumulation))


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, mega_batch: int = MEGA_BATCH
) -> list[list[int]]:
    """Shuffle, sort by length inside groups of ``mega_batch`` batches (less padding), then shuffle the
    batches. ``mega_batch=1`` gives random batches, for packed rows, which have no padding to save.

    The short batch (the remainder, when the examples do not divide into batches) closes the epoch, as
    a sampler's last batch does: shuffled in, a batch of one example would take a full step of its own
    anywhere in the run (the learning rate is highest early on), and a run stopped mid-epoch would
    see fewer examples per step than it should.
    """
    rng = random.Random(f"{seed}:epoch:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    full = len(order) - len(order) % batch_size
    span = batch_size * mega_batch
    batches: list[list[int]] = []
    for start in range(0, full, span):
        group = sorted(order[start : min(start + span, full)], key=lambda i: lengths[i], reverse=True)
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    rng.shuffle(batches)
    if full < len(order):
        batches.append(sorted(order[full:], key=lambda i: lengths[i], reverse=True))
    return batches


def collate(items: Sequence[Encoded], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest item; padding is masked from attention and from the loss."""
    import torch

    width = max(len(item.input_ids) for item in items)
    ids = torch.full((len(items), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def packed_rows(items: Sequence[Encoded], row_tokens: int = ROW_TOKENS) -> list[list[Encoded]]:
    """Spread a batch's items over rows of near-equal length, about ``row_tokens`` each (or the longest
    item's length, if more).

    Longest first, each into the shortest row so far, so rows end close together.
    Items as long as a row leave gaps, so a few more rows are tried as well and
    the layout with the fewest positions (padding included) is kept; fewer,
    longer rows would cost more attention.
    """
    longest_first = sorted(items, key=lambda item: len(item.input_ids), reverse=True)
    total, longest = sum(len(item.input_ids) for item in items), len(longest_first[0].input_ids)
    least = min(len(items), max(1, math.ceil(total / max(row_tokens, longest))))
    layouts = (_spread(longest_first, count) for count in range(least, min(len(items), least + PACKING_TRIES) + 1))
    return min(layouts, key=lambda rows: len(rows) * max(sum(len(item.input_ids) for item in row) for row in rows))


def _spread(longest_first: Sequence[Encoded], count: int) -> list[list[Encoded]]:
    """``count`` rows, each item into the shortest row so far."""
    rows: list[list[Encoded]] = [[] for _ in range(count)]
    fill = [(0, r) for r in range(count)]
    for item in longest_first:
        tokens, r = heapq.heappop(fill)
        rows[r].append(item)
        heapq.heappush(fill, (tokens + len(item.input_ids), r))
    return rows


def collate_packed(rows: Sequence[Sequence[Encoded]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Rows of items end to end, with no attention mask: position ids restart at 0 for every item.

    From those positions the model's mask keeps each item attending to itself
    only (transformers reads packed sequences from ``position_ids`` when no
    attention mask is given). Padding closes a row as tokens at position 0, each
    a sequence of its own, with no label. An item's first token gets no label,
    as in a padded row: it would be predicted from the item before it.
    """
    import torch

    width = max(sum(len(item.input_ids) for item in row) for row in rows)
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for item in row:
            n = len(item.input_ids)
            ids[r, at : at + n] = torch.tensor(item.input_ids)
            positions[r, at : at + n] = torch.arange(n)
            labels[r, at + 1 : at + n] = torch.tensor(item.labels[1:])
            at += n
    return {"input_ids": ids, "position_ids": positions, "labels": labels}


def examples_fingerprint(examples: Sequence[TrainExample]) -> str:
    """A hash of the examples, so a checkpoint is never resumed on different data."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.prompt, ex.completion, ex.kind]).encode())
        digest.update(b"\n")
    return digest.hexdigest()
