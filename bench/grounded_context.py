"""How much retrieved text should a grounded answer read? The base model (the RAG reader) on several contexts.

    python bench/grounded_context.py --squad ../shared/data/xquad-en/xquad.en.json \
        --fictional ../shared/data/fictional-knowledge --skip 20 --contexts chunks1,chunks2,chunks3,sent3,win3x2

Each set is scored with the base model reading, before each question, the ``k`` passages BM25 ranks best,
passages being whole chunks (``chunksK``), single sentences (``sentK``) or windows of three sentences
(``win3xK``). The sets start after ``--skip`` documents (xquad-en paragraphs / fictional documents), so a
choice made here is not made on the documents the quality benchmark reports (the first 20): xquad-en
questions (free-form, a random ``--sample`` of those of the next 40 paragraphs) and the fictional paraphrase
probes of the next 20 documents (multiple choice and free-form, as bench/quality.py builds them).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict
from pathlib import Path

from quality import probe_items

from domalign.config import Settings
from domalign.domain import BenchmarkItem, Chunk
from domalign.evaluate import evaluate_model
from domalign.ingest import chunk_text
from domalign.models.embedded import embedded_gguf_path
from domalign.models.loader import load_base_model
from domalign.sentences import split_sentences


def windows(chunks: list[Chunk], width: int) -> list[Chunk]:
    """Every run of ``width`` consecutive sentences of each chunk, once (chunks overlap by a sentence)."""
    seen: dict[str, Chunk] = {}
    for chunk in chunks:
        sentences = split_sentences(chunk.text)
        for i in range(max(1, len(sentences) - width + 1)):
            text = " ".join(sentences[i:i + width])
            seen.setdefault(text, Chunk(id=f"{chunk.id}:w{i}", document_id=chunk.document_id, index=len(seen),
                                        text=text))
    return list(seen.values())


def context(chunks: list[Chunk], name: str) -> tuple[list[Chunk], int]:
    """The passages and their number for a context name: chunks3, sent3, win3x2 (windows of 3, 2 of them)."""
    if name.startswith("chunks"):
        return chunks, int(name.removeprefix("chunks"))
    if name.startswith("sent"):
        return windows(chunks, 1), int(name.removeprefix("sent"))
    width, k = name.removeprefix("win").split("x")
    return windows(chunks, int(width)), int(k)


def squad_set(path: Path, skip: int, count: int, sample: int) -> tuple[list[Chunk], list[BenchmarkItem]]:
    paragraphs = [p for article in json.loads(path.read_text())["data"] for p in article["paragraphs"]]
    paragraphs = paragraphs[skip:skip + count]
    chunks = [c for i, p in enumerate(paragraphs) for c in chunk_text(f"paragraph_{skip + i:03d}", p["context"])]
    items = [BenchmarkItem(question=qa["question"], answer=qa["answers"][0]["text"])
             for p in paragraphs for qa in p["qas"]]
    random.Random(0).shuffle(items)
    return chunks, items[:sample]


def fictional_set(folder: Path, skip: int, count: int) -> tuple[list[Chunk], list[BenchmarkItem]]:
    docs = sorted((folder / "docs").iterdir())[skip:skip + count]
    chunks = [c for doc in docs for c in chunk_text(doc.stem, doc.read_text())]
    rows = probe_items(folder / "probes.jsonl", {doc.name for doc in docs}, "paraphrase")
    items = [BenchmarkItem(question=r["question"], answer=r["answer"], kind="cloze",
                           choices=tuple(r["choices"]) if r.get("choices") else None) for r in rows]
    return chunks, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, help="SQuAD-format JSON (xquad-en)")
    parser.add_argument("--fictional", type=Path, help="the fictional-knowledge folder (docs/, probes.jsonl)")
    parser.add_argument("--skip", type=int, default=20, help="documents/paragraphs left out (the reported ones)")
    parser.add_argument("--sample", type=int, default=150, help="xquad-en questions scored")
    parser.add_argument("--contexts", default="chunks1,chunks2,chunks3,sent3,win3x2")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grounded-context.json")
    args = parser.parse_args()
    sets = {}
    if args.squad:
        sets["xquad-en"] = squad_set(args.squad, args.skip, 40, args.sample)
    if args.fictional:
        sets["fictional probes"] = fictional_set(args.fictional, args.skip, 20)
    model, tokenizer = load_base_model(str(embedded_gguf_path()), cache_dir=Settings().home / "model-cache")
    rows = []
    for set_name, (chunks, items) in sets.items():
        for name in args.contexts.split(","):
            passages, k = context(chunks, name)
            started = time.monotonic()
            summary = evaluate_model(model, tokenizer, items, passages, grounded=True,
                                     passages_per_question=k).summary
            rows.append({"set": set_name, "context": name, "items": len(items), **asdict(summary),
                         "seconds": round(time.monotonic() - started, 1)})
            print(f"{set_name:17s} {name:8s} accuracy {summary.accuracy:.3f}  free-form "
                  f"{summary.freeform_accuracy:.3f}  violations {summary.domain_violations:3d}", flush=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
