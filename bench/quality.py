"""How much does alignment teach? The product path against the baselines a user would pick instead.

Runs against a domalign server (a local one is started unless --url is given):
  1. upload the documents and the question set (held out: synthesis drops any training item
     that contains one of its questions) plus a general-knowledge set (forgetting);
  2. alignment A, the default recipe, evaluated closed-book and grounded (RAG) before and after;
  3. alignment B, LoRA on the raw documents only, for the same training wall time as A;
  4. one table: base closed-book, base + retrieval (RAG), raw-document fine-tuning, aligned
     closed-book, aligned grounded — accuracy (multiple choice, free-form, mean), uncertainty,
     domain violations, evaluation wall time — and gain recovered.

Question sets: cloze probes (JSONL of {document, kind, prefix, target}; each probe becomes a
multiple-choice item, distractors = targets of other probes of the same kind, and a free-form
item), a JSON list of {question, answer, choices?}, or SQuAD-format JSON (XQuAD).

  python bench/quality.py fictional --docs ../shared/data/fictional-knowledge/docs --first 20 \
      --probes ../shared/data/fictional-knowledge/probes.jsonl --probe-kind paraphrase
  python bench/quality.py squad --squad ../shared/data/xquad-en/xquad.en.json --first 20

Ablations: --recipe '{"replay_items": 0}' changes the aligned run's synthesis options, and
--ablation keeps only the aligned run, closed-book (plus the general-knowledge set). --invented also
asks every question about invented names (free-form, a decline as the reference) and reports how often
the model declines them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path

from domalign.client import Client
from domalign.corpus_words import vocabulary
from domalign.declines import DECLINE
from domalign.demo.run import follow, local_server
from domalign.synth.refusals import invented_question

HERE = Path(__file__).parent
GENERAL = HERE / "data" / "general_knowledge.json"
RAW_RECIPE = {"paraphrases_per_fact": 0, "cloze_per_fact": 0, "include_mc": False, "include_raw_passages": True,
              "shuffled_per_chunk": 0, "include_sentences": False, "replay_items": 0, "noun_questions": False}


def probe_items(path: Path, documents: set[str], kind: str, seed: int = 0) -> list[dict]:
    """Each probe of ``kind`` on ``documents`` twice: multiple choice (3 same-kind distractors) and free-form."""
    probes = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    probes = [p for p in probes if p["kind"] == kind and p["document"] in documents]
    rng = random.Random(seed)
    targets = sorted({p["target"] for p in probes})
    items = []
    for probe in probes:
        others = rng.sample([t for t in targets if t != probe["target"]], 3)
        choices = [probe["target"], *others]
        rng.shuffle(choices)
        items.append({"question": probe["prefix"], "answer": probe["target"], "choices": choices, "kind": "cloze"})
        items.append({"question": probe["prefix"], "answer": probe["target"], "kind": "cloze"})
    return items


def question_items(path: Path) -> list[dict]:
    """Each question as given, plus a free-form copy of every multiple-choice one (both are reported)."""
    items = []
    for q in json.loads(path.read_text()):
        items.append({"question": q["question"], "answer": q["answer"], "choices": q.get("choices")})
        if q.get("choices"):
            items.append({"question": q["question"], "answer": q["answer"]})
    return items


def invented_items(items: list[dict], docs: list[Path]) -> list[dict]:
    """Each distinct question of ``items`` asked about invented names instead of its own, free-form, with a
    decline as its reference: the model should say the documents do not mention them (cloze prefixes and
    questions that name nothing are skipped)."""
    taken = vocabulary(doc.read_text() for doc in docs)
    questions = dict.fromkeys(item["question"] for item in items if item.get("kind") != "cloze")
    made = [invented_question(q, taken, random.Random(f"bench-invented|{q}")) for q in questions]
    return [{"question": q, "answer": DECLINE.format(name=name)} for q, name in filter(None, made)]


def squad_corpus(path: Path, first: int, out_dir: Path) -> tuple[list[Path], list[dict]]:
    """The first ``first`` paragraphs as documents, their questions as free-form items."""
    paragraphs = [p for article in json.loads(path.read_text())["data"] for p in article["paragraphs"]][:first]
    out_dir.mkdir(parents=True, exist_ok=True)
    docs, items = [], []
    for i, paragraph in enumerate(paragraphs):
        doc = out_dir / f"paragraph_{i:03d}.txt"
        doc.write_text(paragraph["context"])
        docs.append(doc)
        items += [{"question": qa["question"], "answer": qa["answers"][0]["text"]} for qa in paragraph["qas"]]
    return docs, items


def stage_seconds(events: list[dict], stage: str) -> float:
    """Wall time of one stage, from its started and finished events."""
    times = {e["type"]: datetime.fromisoformat(e["created_at"]) for e in events if e.get("stage") == stage
             and e["type"] in ("stage_started", "stage_finished")}
    return (times["stage_finished"] - times["stage_started"]).total_seconds()


def run_alignment(client: Client, name: str, base: str, doc_ids: list[str], body: dict) -> tuple[dict, list[dict]]:
    alignment_id = client.create_alignment(name, base, doc_ids, **body)
    print(f"{name}: {alignment_id}", file=sys.stderr)
    status = follow(client, alignment_id, poll_s=5)
    if status.status != "evaluated":
        raise SystemExit(f"{name} ended {status.status}: {status.data and status.data.error}")
    return status.data.model_dump(mode="json"), [e.model_dump(mode="json") for e in client.all_events(alignment_id)]


def raw_document_run(client: Client, base: str, doc_ids: list[str], bench_id: str, seconds: float) -> list[dict]:
    """The baseline a generic trainer gives: LoRA on the raw documents for ``seconds``; its events."""
    _, events = run_alignment(client, "raw-document", base, doc_ids, {
        "benchmark_id": bench_id, "synthesis": RAW_RECIPE, "training": {"max_time_s": seconds, "epochs": 100}})
    return events


def row(event: dict) -> dict:
    keys = ("accuracy", "mc_accuracy", "freeform_accuracy", "uncertainty", "domain_violations", "total_questions")
    return {**{k: event[k] for k in keys}, "routed_to_base": event.get("routed_to_base", 0),
            "eval_seconds": event["seconds"]}


def measure(client: Client, args: argparse.Namespace, docs: list[Path], items: list[dict]) -> dict:
    doc_ids = client.upload_documents(docs)
    bench_id = client.upload_benchmark(items, f"{args.name} questions")
    general_id = client.upload_benchmark(json.loads(GENERAL.read_text()), "general knowledge")
    invented = invented_items(items, docs) if args.invented else []
    invented_id = client.upload_benchmark(invented, "invented names") if invented else None
    training = {"max_time_s": args.train_seconds, "epochs": args.epochs, **args.training}
    evaluation = {"grounded": not args.ablation, "extra_benchmark_ids": [general_id, *filter(None, [invented_id])]}
    started = time.monotonic()
    aligned, events_a = run_alignment(client, "aligned", args.base_model, doc_ids, {
        "benchmark_id": bench_id, "training": training, "evaluation": evaluation, "synthesis": args.recipe})
    alignment_seconds = time.monotonic() - started
    train_seconds = stage_seconds(events_a, "train")
    report = aligned["report"]
    before, after = _run(events_a, "baseline"), _run(events_a, "evaluate")
    table = {"base closed-book": row(before), "aligned closed-book": row(after)}
    gain = events_b = None
    if not args.ablation:
        if not args.skip_raw:
            events_b = raw_document_run(client, args.base_model, doc_ids, bench_id, train_seconds)
        table = {
            "base closed-book": row(before),
            "base + retrieval (RAG)": row(_run(events_a, "baseline", "grounded")),
            **({"raw-document fine-tuning": row(_run(events_b, "evaluate"))} if events_b else {}),
            "aligned closed-book": row(after),
            "aligned grounded": row(_run(events_a, "evaluate", "grounded")),
        }
        rag, base_acc = table["base + retrieval (RAG)"]["accuracy"], before["accuracy"]
        gain = (after["accuracy"] - base_acc) / (rag - base_acc) if rag != base_acc else None
    forgetting = report["extra_benchmarks"][general_id]
    return {
        "name": args.name, "base_model": args.base_model, "documents": len(docs), "questions": len(items),
        "recipe": args.recipe, "train_seconds_budget": args.train_seconds,
        "table": table, "gain_recovered": gain,
        "general_knowledge": {when: {k: forgetting[when].get(k) for k in ("accuracy", "mc_accuracy",
                                                                          "freeform_accuracy", "routed_to_base")}
                              for when in ("before", "after")},
        "invented_names": {when: {k: report["extra_benchmarks"][invented_id][when][k]
                                  for k in ("accuracy", "domain_violations", "total_questions")}
                           for when in ("before", "after")} if invented_id else None,
        "synthesis": report["synthesis"],
        "wall_seconds": {"alignment": round(alignment_seconds, 1), "train": round(train_seconds, 1),
                         **{s: round(stage_seconds(events_a, s), 1) for s in ("synthesize", "baseline", "evaluate")}},
        "raw_document_train_steps": _train_steps(events_b) if events_b else None,
        "aligned_train_steps": _train_steps(events_a),
    }


def measure_raw_only(client: Client, args: argparse.Namespace, docs: list[Path], items: list[dict]) -> dict:
    """The raw-document baseline alone, trained for ``--train-seconds``: to re-measure it after a change to
    training without the aligned run (its train stage lasts its budget, so the two get the same time)."""
    doc_ids = client.upload_documents(docs)
    bench_id = client.upload_benchmark(items, f"{args.name} questions")
    started = time.monotonic()
    events = raw_document_run(client, args.base_model, doc_ids, bench_id, args.train_seconds)
    return {
        "name": args.name, "base_model": args.base_model, "documents": len(docs), "questions": len(items),
        "train_seconds_budget": args.train_seconds,
        "table": {"base closed-book": row(_run(events, "baseline")),
                  "raw-document fine-tuning": row(_run(events, "evaluate"))},
        "gain_recovered": None, "general_knowledge": None,
        "wall_seconds": {"alignment": round(time.monotonic() - started, 1),
                         "train": round(stage_seconds(events, "train"), 1)},
        "raw_document_train_steps": _train_steps(events),
    }


def _run(events: list[dict], stage: str, run: str = "closed_book") -> dict:
    """The evaluation event of one run (closed_book, grounded, or a benchmark id) in a stage."""
    return next(e["data"] for e in events if e["type"] == "evaluation" and e["stage"] == stage
                and e["data"]["run"] == run)


def _train_steps(events: list[dict]) -> int | None:
    finished = [e["data"] for e in events if e["type"] == "stage_finished" and e["stage"] == "train"]
    return finished[0].get("steps") if finished else None


def print_table(result: dict) -> None:
    print(f"\n{result['name']}: {result['documents']} documents, {result['questions']} questions, "
          f"base model {result['base_model']}")
    print(f"{'':28} {'acc':>6} {'mc':>6} {'free':>6} {'unc':>6} {'viol':>5} {'eval s':>7}")
    for name, r in result["table"].items():
        free = "-" if r["freeform_accuracy"] is None else f"{r['freeform_accuracy']:.3f}"
        mc = "-" if r["mc_accuracy"] is None else f"{r['mc_accuracy']:.3f}"
        print(f"{name:28} {r['accuracy']:6.3f} {mc:>6} {free:>6} {r['uncertainty']:6.3f} "
              f"{r['domain_violations']:5d} {r['eval_seconds']:7.1f}")
    gain, general = result["gain_recovered"], result["general_knowledge"]
    print(f"gain recovered: {'n/a' if gain is None else f'{gain:.2f}'}; general knowledge "
          + (f"{general['before']['accuracy']:.3f} -> {general['after']['accuracy']:.3f}"
             f" ({general['after'].get('routed_to_base') or 0} routed to the base model)" if general else "n/a")
          + f"; wall seconds {result['wall_seconds']}")
    if result.get("invented_names"):
        before, after = result["invented_names"]["before"], result["invented_names"]["after"]
        print(f"declined, questions about invented names ({after['total_questions']}): "
              f"{before['accuracy']:.3f} -> {after['accuracy']:.3f}; violations {before['domain_violations']} -> "
              f"{after['domain_violations']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="label of this run, e.g. fictional or xquad")
    parser.add_argument("--docs", type=Path, help="folder of documents (with --probes or --questions)")
    parser.add_argument("--probes", type=Path, help="cloze probes JSONL")
    parser.add_argument("--probe-kind", default="paraphrase")
    parser.add_argument("--questions", type=Path, help="JSON list of {question, answer, choices?}")
    parser.add_argument("--squad", type=Path, help="SQuAD-format JSON: paragraphs become documents")
    parser.add_argument("--first", type=int, default=20, help="use the first N documents / paragraphs")
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--train-seconds", type=float, default=900, help="training wall-time budget")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--recipe", type=json.loads, default={},
                        help='synthesis options of the aligned run, as JSON, e.g. \'{"replay_items": 0}\'')
    parser.add_argument("--training", type=json.loads, default={},
                        help='more training options of the aligned run, e.g. \'{"max_seq_len": 1024}\'')
    parser.add_argument("--ablation", action="store_true",
                        help="aligned run only, closed-book (no RAG, grounded or raw-document rows): for ablations")
    parser.add_argument("--skip-raw", action="store_true",
                        help="leave out the raw-document fine-tuning run (saves its training and evaluation time)")
    parser.add_argument("--raw-only", action="store_true",
                        help="the raw-document fine-tuning run alone, for --train-seconds (and its base row)")
    parser.add_argument("--invented", action="store_true",
                        help="also ask each question about invented names; the model should decline them")
    parser.add_argument("--url"), parser.add_argument("--api-key")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    if args.squad:
        docs, items = squad_corpus(args.squad, args.first, args.out / f"{args.name}-docs")
    else:
        docs = sorted(args.docs.iterdir())[: args.first]
        if args.probes:
            items = probe_items(args.probes, {d.name for d in docs}, args.probe_kind)
        else:
            items = question_items(args.questions)
    run = measure_raw_only if args.raw_only else measure
    if args.url:
        with Client(args.url, args.api_key, timeout=600) as client:
            result = run(client, args, docs, items)
    else:
        with local_server() as (url, key), Client(url, key, timeout=600) as client:
            result = run(client, args, docs, items)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"quality-{args.name}.json").write_text(json.dumps(result, indent=1))
    print_table(result)


if __name__ == "__main__":
    main()
