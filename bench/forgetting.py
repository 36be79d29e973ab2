"""General knowledge before and after alignment, question by question, for finished alignments.

    python bench/forgetting.py ALIGNMENT_ID [ALIGNMENT_ID ...] [--questions FILE] [--first N] --out forgetting.json

Reads each alignment's adapter and corpus from the local home (``DOMALIGN_HOME``, default ``~/.domalign``) and
answers a question set closed-book, as the evaluate stage answers an extra benchmark: once with the base
model, once with the adapter, and once as the product answers (``training.route_general_questions``: a
question that is not about the corpus goes to the base model; the corpus's words come from the adapter, or
from the alignment's chunks for an adapter saved without them), and once more routed as without the corpus's word
counts (the rule before 2026-12-07; an adapter saved before then is routed that way in the product). A routed
question takes the base model's result from the first pass, as the evaluate stage takes the baseline's. A change of
a few questions in 40 is within what one training run to the next moves, so the table counts the questions lost
and gained and gives the two-sided sign-test p-value of that split (how likely a split at least this uneven is if
losing and gaining were equally likely). ``--first N`` keeps the set's first N questions (the first 40 of
``bench/data/general_knowledge.json`` are the set the quality runs before 2026-11-30 used).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from domalign.config import Settings
from domalign.corpus_words import CorpusWords
from domalign.domain import BenchmarkItem, Chunk, benchmark_item_from_dict
from domalign.evaluate import QuestionResult, evaluate_model
from domalign.store.tables import Alignment
from domalign.workflow.catalog import load_catalog_model
from domalign.workflow.context import Context
from domalign.workflow.evaluations import with_adapter
from domalign.workflow.job import artifact_key

GENERAL = Path(__file__).parent / "data" / "general_knowledge.json"


def sign_test(lost: int, gained: int) -> float:
    """Two-sided exact binomial p-value of ``lost`` against ``gained`` flips at even odds."""
    flips = lost + gained
    if flips == 0:
        return 1.0
    tail = sum(math.comb(flips, k) for k in range(max(lost, gained), flips + 1)) / 2**flips
    return min(1.0, 2 * tail)


def _answers(model, tokenizer, items: list[BenchmarkItem], chunks: list[Chunk], corpus: CorpusWords | None = None,
             route_general: bool = False, base: Sequence[QuestionResult] = ()) -> list[QuestionResult]:
    """As the evaluate stage answers: a routed question takes the ``base`` pass's result, as in the product."""
    return evaluate_model(model, tokenizer, items, chunks, corpus=corpus, route_general=route_general,
                          base_results=base).results


def _rows(results: list[QuestionResult]) -> list[dict]:
    return [{"question": r.question, "kind": r.kind, "answer": r.answer, "correct": r.correct,
             "routed_to_base": r.routed_to_base} for r in results]


def compare(before: list[dict], after: list[dict]) -> dict:
    """Accuracy before and after, overall and by kind, and the questions lost and gained."""
    def accuracy(rows: list[dict], kind: str | None = None) -> float:
        picked = [r for r in rows if kind is None or r["kind"] == kind]
        return round(sum(r["correct"] for r in picked) / max(len(picked), 1), 4)

    lost = [b["question"] for b, a in zip(before, after, strict=True) if b["correct"] and not a["correct"]]
    gained = [b["question"] for b, a in zip(before, after, strict=True) if a["correct"] and not b["correct"]]
    return {
        **{when: {"accuracy": accuracy(rows), "mc": accuracy(rows, "mc"), "freeform": accuracy(rows, "freeform")}
           for when, rows in (("before", before), ("after", after))},
        "change": round(accuracy(after) - accuracy(before), 4),
        "lost": lost, "gained": gained, "sign_test_p": round(sign_test(len(lost), len(gained)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("alignment_ids", nargs="+")
    parser.add_argument("--questions", type=Path, default=GENERAL, help="a JSON list of {question, answer, choices?}")
    parser.add_argument("--first", type=int, help="keep only the first N questions")
    parser.add_argument("--out", type=Path, help="write the comparison as JSON here too")
    args = parser.parse_args()
    items = [benchmark_item_from_dict(row) for row in json.loads(args.questions.read_text())][: args.first]

    ctx = Context.open(Settings())
    base_results: dict[str, list[QuestionResult]] = {}
    results = {}
    for alignment_id in args.alignment_ids:
        with ctx.db.session() as session:
            row = session.get(Alignment, alignment_id)
            if row is None or row.status != "evaluated":
                raise SystemExit(f"{alignment_id}: no evaluated alignment of that id in {ctx.settings.home}")
            base_id = row.base_model
        chunks = [Chunk(**r) for r in ctx.blobs.read_jsonl(artifact_key(alignment_id, "chunks.jsonl"))]
        base, tokenizer = load_catalog_model(ctx, base_id)
        if base_id not in base_results:  # closed-book answers do not depend on the corpus; violations are not used
            base_results[base_id] = _answers(base, tokenizer, items, chunks)
        before = base_results[base_id]
        adapter = ctx.blobs.fetch(artifact_key(alignment_id, "adapter"))
        corpus = CorpusWords.load(adapter) or CorpusWords.of(chunk.text for chunk in chunks)
        with with_adapter(base, adapter) as model:  # declines guarded as in the product
            after = _rows(_answers(model, tokenizer, items, chunks, corpus))
            routed = {"routed": _rows(_answers(model, tokenizer, items, chunks, corpus, True, before))}
            if corpus.counts is not None:  # the rule as for an adapter saved without its corpus's word counts
                routed["routed_without_counts"] = _rows(_answers(model, tokenizer, items, chunks,
                                                                 replace(corpus, counts=None), True, before))
        before_rows = _rows(before)
        results[alignment_id] = {**compare(before_rows, after),
                                 **{label: {**compare(before_rows, rows),
                                            "questions_routed": sum(r["routed_to_base"] for r in rows)}
                                    for label, rows in routed.items()}}
        for label, r in (("adapter", results[alignment_id]),
                         *((label, results[alignment_id][label]) for label in routed)):
            print(f"{alignment_id} {label}: {r['before']['accuracy']:.3f} -> {r['after']['accuracy']:.3f}"
                  f" ({r['change']:+.3f})  lost {len(r['lost'])} gained {len(r['gained'])}"
                  f"  sign test p={r['sign_test_p']:.3f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"questions": str(args.questions), "items": len(items),
                                        "alignments": results}, indent=2))


if __name__ == "__main__":
    main()
