"""Three views of one question decoded as one answer: the model reading passages, plus what the adapter learned.

A grounded answer is generated in three rows of the same batch: the *reader*
(the question behind the retrieved passages, adapter at its grounded scale),
the *memory* (the question alone, adapter as trained) and the *prior* (the
question alone, base model). At every step all three take the same token, drawn
from ``reader + w · (memory − prior)`` over their log-probabilities: the reader
moved by what training changed in the model's closed-book answer, and by
nothing the base model believed before. Adding the memory itself (a weighted
mean of reader and memory, the rule until the seventeenth session) also added
the base model's own guesses, which outvoted passages it read right; the
difference cancels them. It is the proxy-tuning rule of Liu et al. (2024,
"Tuning Language Models by Proxy"), with the retrieved passages in the large
model's place. Their weight 1 lets the difference carry the adapter's answer
style too (terse, entity first), which broke free-form answers; at 0.5, the
weight the mean had, it answered better than the mean on the stored
alignments we re-scored and in fresh runs (docs/quality.md).
Multiple-choice scoring uses the same rule at the level of whole choices
(``fuse_scores``). Sampling applies temperature and top-p to the fused
distribution (not the top-k or other filters of a model's generation config),
and the fused log-probabilities come from the scores ``generate`` hands the
processor, after any processors that ran before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch


class FusedRows(NamedTuple):
    """The batch rows of one fused answer: reader (with passages), memory (adapter, closed-book), prior (base
    model, closed-book)."""

    reader: int
    memory: int
    prior: int


def fuse_scores(reader: Sequence[float], memory: Sequence[float], prior: Sequence[float], weight: float) -> list[float]:
    """``reader + weight · (memory − prior)`` for each choice: the reader's scores moved by what the adapter
    learned."""
    return [r + weight * (m - p) for r, m, p in zip(reader, memory, prior, strict=True)]


def _sample(logprobs: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row from ``logprobs``, with temperature and nucleus (top-p) sampling."""
    probs = torch.softmax(logprobs / temperature, dim=-1)
    if top_p < 1.0:
        ranked, order = probs.sort(dim=-1, descending=True)
        ranked[(ranked.cumsum(dim=-1) - ranked) > top_p] = 0.0  # keep the smallest head reaching top_p
        probs = torch.zeros_like(probs).scatter(-1, order, ranked)
    return torch.multinomial(probs, 1).squeeze(-1)


class ViewFusion:
    """A ``generate`` logits processor: each :class:`FusedRows` triple of rows takes one token together.

    The token is the argmax (greedy, ``temperature`` 0) or a sample of the fused
    distribution; all three rows get it as their only possible token, so the
    sampling and warping steps of ``generate`` that follow cannot pull them
    apart. Rows in no triple pass through untouched. ``weights`` holds each
    triple's weight of what the adapter learned. ``picked[reader]`` collects the
    fused log-probability of each token the triple took: the answer's confidence.
    """

    def __init__(self, triples: Sequence[FusedRows], weights: Sequence[float], temperature: float = 0.0,
                 top_p: float = 1.0) -> None:
        if len(weights) != len(triples) or not all(0.0 <= w <= 1.0 for w in weights):
            raise ValueError(f"need one memory weight between 0 and 1 per fused answer; got {list(weights)}")
        self.readers = [t.reader for t in triples]
        self.others = [t.memory for t in triples] + [t.prior for t in triples]
        self.weights = torch.tensor(weights, dtype=torch.float32)[:, None]
        self.temperature, self.top_p = temperature, top_p
        self.picked: dict[int, list[float]] = {r: [] for r in self.readers}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.readers:
            return scores
        reader, memory, prior = scores[self.readers + self.others].float().log_softmax(dim=-1).chunk(3)
        fused = reader + self.weights.to(reader.device) * (memory - prior)
        # a token an earlier processor masked (-inf) stays impossible, also where -inf − -inf gave NaN
        fused = torch.where(fused.isfinite(), fused, float("-inf")).log_softmax(dim=-1)
        tokens = _sample(fused, self.temperature, self.top_p) if self.temperature > 0 else fused.argmax(dim=-1)
        for row, logprob in zip(self.readers, fused.gather(1, tokens[:, None]).squeeze(1).tolist(), strict=True):
            self.picked[row].append(logprob)
        forced = torch.full((len(self.readers), scores.shape[1]), float("-inf"), dtype=scores.dtype,
                            device=scores.device)
        forced.scatter_(1, tokens[:, None], 0.0)
        out = scores.clone()
        for rows in (self.readers, self.others[: len(self.readers)], self.others[len(self.readers):]):
            out[rows] = forced
        return out
