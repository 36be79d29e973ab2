"""Multiple-choice accuracy of finished alignments' grounded answers at other memory weights, from stored scores.

    python bench/fusion_weights.py ALIGNMENT_ID... [--weights 0,0.2,0.5,1] [--out fusion-weights.json]

A grounded choice's score is ``reader + w · (memory − prior)`` (``training.grounded_memory_weight``; the
seventeenth session's rule). With the base model reading, the reader's scores are the baseline's grounded (RAG)
run, the memory's the aligned closed-book run and the prior's the baseline's closed-book run, all stored with
the alignment (``eval_baseline.json``, ``eval_evaluate.json`` under ``DOMALIGN_HOME``), so every weight is
scored without running a model. Also scored, for comparison, the rule before it, the weighted mean
``(1 − w) · reader + w · memory`` (``mean w``), and two ways of weighting that mean by each item's confidence
(``entropy``: w = H_reader / (H_reader + H_memory), normalized entropies; ``margin``: w = m_memory /
(m_reader + m_memory), the gaps between each view's two best choices). Free-form answers are decoded token by
token from the fused distribution, so they need ``bench/grounded_scale.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from domalign.config import Settings
from domalign.evaluate import normalized_entropy
from domalign.models.fusion import fuse_scores
from domalign.store.tables import Alignment
from domalign.workflow import benchmarks
from domalign.workflow.context import Context
from domalign.workflow.job import artifact_key

Fuse = Callable[[list[float], list[float], list[float]], list[float]]


def _learned(weight: float) -> Fuse:
    return lambda r, m, p: fuse_scores(r, m, p, weight)


def _weighted(weight: float) -> Fuse:
    return lambda r, m, _p: [(1 - weight) * x + weight * y for x, y in zip(r, m, strict=True)]


def _margin(scores: list[float]) -> float:
    top = sorted(scores, reverse=True)
    return top[0] - top[1]


def _by_confidence(reader: list[float], memory: list[float], reader_doubt: float, memory_doubt: float) -> list[float]:
    weight = reader_doubt / (reader_doubt + memory_doubt) if reader_doubt + memory_doubt > 0 else 0.5
    return _weighted(weight)(reader, memory, [])


RULES: dict[str, Fuse] = {
    "mean 0.5": _weighted(0.5),
    "entropy": lambda r, m, _p: _by_confidence(r, m, normalized_entropy(r), normalized_entropy(m)),
    "margin": lambda r, m, _p: _by_confidence(r, m, _margin(m), _margin(r)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("alignment_ids", nargs="+")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1", help="comma-separated, 0 to 1")
    parser.add_argument("--out", type=Path, help="write the table as JSON here too")
    args = parser.parse_args()
    rules = {f"{w:g}": _learned(w) for w in (float(x) for x in args.weights.split(","))} | RULES
    ctx = Context.open(Settings())
    rows = []
    print("alignment" + " " * 28 + "items  " + "  ".join(f"{name:>8}" for name in rules))
    for alignment_id in args.alignment_ids:
        with ctx.db.session() as session:
            row = session.get(Alignment, alignment_id)
            if row is None or row.status != "evaluated":
                raise SystemExit(f"{alignment_id}: no evaluated alignment of that id in {ctx.settings.home}")
            owner, bench_id = row.owner_id, row.benchmark_id
        items = benchmarks.load_items(ctx, owner, bench_id)
        runs = {stage: ctx.blobs.read_json(artifact_key(alignment_id, f"eval_{stage}.json"))["runs"]
                for stage in ("baseline", "evaluate")}
        views = (runs["baseline"]["grounded"], runs["evaluate"]["closed_book"], runs["baseline"]["closed_book"])
        scored = [(item, *(r["scores"] for r in rows))
                  for item, *rows in zip(items, *(view["results"] for view in views), strict=True)
                  if item.choices is not None]
        if not scored:
            print(f"{alignment_id:36}     0  (no multiple-choice items)")
            continue
        accuracy = {}
        for name, fuse in rules.items():
            right = 0
            for item, r, m, p in scored:
                fused = fuse(r, m, p)
                right += item.choices[fused.index(max(fused))] == item.answer
            accuracy[name] = right / len(scored)
        rows.append({"alignment_id": alignment_id, "items": len(scored), "accuracy": accuracy})
        print(f"{alignment_id:36} {len(scored):5}  " + "  ".join(f"{a:8.3f}" for a in accuracy.values()))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
