"""Grounded accuracy of a finished alignment's adapter at several strengths, without training again.

    python bench/grounded_scale.py ALIGNMENT_ID --scales 0,0.5,1 [--memory-weight 0.5] --out grounded-scale.json

Reads the alignment's adapter, corpus and benchmark from the local home (``DOMALIGN_HOME``, default
``~/.domalign``) and scores the benchmark with the retrieved passages in the prompt, as the evaluate stage
scores its grounded column, once per LoRA scale of the reader: 0 is the base model reading the passages (the
default; with ``--memory-weight 0`` the RAG row), 1 the adapter as trained, and the alignment's own
``training.grounded_adapter_scale`` what its report shows.
``--passages`` retrieves that many passages per question instead of the alignment's own number.
``--memory-weight`` fuses in the closed-book view at that weight (``training.grounded_memory_weight``; the
alignment's own when not given, 0 for the passages alone); at scale 0 with weight 0 the adapter plays no part.
Choose a scale on one benchmark and check it on others: a scale picked on the set it is reported on says
nothing about the next corpus.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from domalign.config import Settings
from domalign.corpus_words import CorpusWords
from domalign.domain import Chunk
from domalign.evaluate import evaluate_model
from domalign.store.tables import Alignment
from domalign.train.config import TrainingConfig
from domalign.workflow import benchmarks
from domalign.workflow.catalog import load_catalog_model
from domalign.workflow.context import Context
from domalign.workflow.evaluations import with_adapter
from domalign.workflow.job import artifact_key
from domalign.workflow.options import EvaluationOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("alignment_id")
    parser.add_argument("--scales", default="0,0.5,1", help="comma-separated LoRA scales, 0 to 1")
    parser.add_argument("--memory-weight", type=float, help="closed-book view's weight (default: the alignment's)")
    parser.add_argument("--passages", type=int, help="passages per question (default: the alignment's)")
    parser.add_argument("--out", type=Path, help="write the rows, with each question's answer, as JSON here too")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]

    ctx = Context.open(Settings())
    with ctx.db.session() as session:
        row = session.get(Alignment, args.alignment_id)
        if row is None or row.status != "evaluated":
            raise SystemExit(f"{args.alignment_id}: no evaluated alignment of that id in {ctx.settings.home}")
        owner, base_id, bench_id, options = row.owner_id, row.base_model, row.benchmark_id, row.options
    items = benchmarks.load_items(ctx, owner, bench_id)
    chunks = [Chunk(**r) for r in ctx.blobs.read_jsonl(artifact_key(args.alignment_id, "chunks.jsonl"))]
    passages = args.passages or EvaluationOptions(**options.get("evaluation", {})).passages_per_question
    training = TrainingConfig(**options.get("training", {}))
    weight = training.grounded_memory_weight if args.memory_weight is None else args.memory_weight
    base, tokenizer = load_catalog_model(ctx, base_id)
    rows = []
    adapter = ctx.blobs.fetch(artifact_key(args.alignment_id, "adapter"))
    with with_adapter(base, adapter) as model:
        for scale in scales:
            started = time.monotonic()
            report = evaluate_model(model, tokenizer, items, chunks, grounded=True, passages_per_question=passages,
                                    adapter_scale=scale, memory_weight=weight, corpus=CorpusWords.load(adapter),
                                    route_general=training.route_general_questions)
            summary, seconds = report.summary, round(time.monotonic() - started, 1)
            rows.append({"scale": scale, "memory_weight": weight, **asdict(summary), "seconds": seconds,
                         "results": [asdict(r) for r in report.results]})
            print(f"scale {scale:4.2f}  memory weight {weight:4.2f}  accuracy {summary.accuracy:.3f}"
                  f"  violations {summary.domain_violations:3d}  ({seconds} s)", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"alignment_id": args.alignment_id, "benchmark_id": bench_id,
                                        "items": len(items), "passages": passages, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
