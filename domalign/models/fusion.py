"""Two views of one question decoded as one answer: the aligned model reading passages, and remembering.

A grounded answer is generated in two rows of the same batch: the *reader*
(the question behind the retrieved passages, adapter at its grounded scale) and
the *memory* (the question alone, adapter as trained). At every step both rows
take the same token, drawn from the weighted mean of their log-probabilities,
so each view can outvote the other only where it is surer. On the paraphrase
probes, where fusion was chosen (the weight, 0.5, was fixed beforehand), this
answered 0.845 against 0.815 for the reader alone (docs/quality.md).
Multiple-choice scoring uses the same mean at the level of whole choices
(``fuse_scores``). Sampling applies temperature and top-p to the fused
distribution (not the top-k or other filters of a model's generation config),
and the fused log-probabilities come from the scores ``generate`` hands the
processor, after any processors that ran before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def fuse_scores(reader: Sequence[float], memory: Sequence[float], memory_weight: float) -> list[float]:
    """The weighted mean of two views' scores for the same choices."""
    return [(1.0 - memory_weight) * r + memory_weight * m for r, m in zip(reader, memory, strict=True)]


def _sample(logprobs: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row from ``logprobs``, with temperature and nucleus (top-p) sampling."""
    probs = torch.softmax(logprobs / temperature, dim=-1)
    if top_p < 1.0:
        ranked, order = probs.sort(dim=-1, descending=True)
        ranked[(ranked.cumsum(dim=-1) - ranked) > top_p] = 0.0  # keep the smallest head reaching top_p
        probs = torch.zeros_like(probs).scatter(-1, order, ranked)
    return torch.multinomial(probs, 1).squeeze(-1)


class PairFusion:
    """A ``generate`` logits processor: each ``(reader, memory)`` pair of rows takes one token together.

    The token is the argmax (greedy, ``temperature`` 0) or a sample of the fused
    distribution; both rows get it as their only possible token, so the sampling
    and warping steps of ``generate`` that follow cannot pull them apart. Rows in
    no pair pass through untouched. ``memory_weights`` holds each pair's weight
    of the memory row. ``picked[reader]`` collects the fused log-probability of
    each token the pair took: the answer's confidence.
    """

    def __init__(self, pairs: Sequence[tuple[int, int]], memory_weights: Sequence[float], temperature: float = 0.0,
                 top_p: float = 1.0) -> None:
        if len(memory_weights) != len(pairs) or not all(0.0 <= w <= 1.0 for w in memory_weights):
            raise ValueError(f"need one memory weight between 0 and 1 per pair; got {list(memory_weights)}")
        self.readers = [r for r, _ in pairs]
        self.memories = [m for _, m in pairs]
        self.weights = torch.tensor(memory_weights, dtype=torch.float32)[:, None]
        self.temperature, self.top_p = temperature, top_p
        self.picked: dict[int, list[float]] = {r: [] for r in self.readers}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.readers:
            return scores
        logprobs = scores[self.readers + self.memories].float().log_softmax(dim=-1)
        half = len(self.readers)
        weights = self.weights.to(logprobs.device)
        fused = (1.0 - weights) * logprobs[:half] + weights * logprobs[half:]
        # a token an earlier processor masked (-inf) stays impossible, also where 0 × -inf gave NaN
        fused = torch.where(fused.isnan(), float("-inf"), fused).log_softmax(dim=-1)
        tokens = _sample(fused, self.temperature, self.top_p) if self.temperature > 0 else fused.argmax(dim=-1)
        for reader, logprob in zip(self.readers, fused.gather(1, tokens[:, None]).squeeze(1).tolist(), strict=True):
            self.picked[reader].append(logprob)
        forced = torch.full((half, scores.shape[1]), float("-inf"), dtype=scores.dtype, device=scores.device)
        forced.scatter_(1, tokens[:, None], 0.0)
        out = scores.clone()
        out[self.readers] = forced
        out[self.memories] = forced
        return out
