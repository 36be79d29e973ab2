"""How many questions of each set general-question routing sends to the base model (no model needed).

Routing (:mod:`domalign.routing`) must keep every question about the documents for the adapter and send general
ones to the base model. This counts both against the corpora the quality runs use, so a change of the rule can be
judged in seconds, and on general-knowledge sets written after a rule (``--general`` may be repeated); ``--skip``
counts on documents a rule was not chosen on:

  python bench/routing_counts.py --fictional ../shared/data/fictional-knowledge --first 20 \\
      --questions bench/data/fictional_natural_questions.json --squad ../shared/data/xquad-en/xquad.en.json \\
      --general bench/data/general_knowledge.json --general bench/data/general_knowledge_heldout.json \\
      --general bench/data/general_knowledge_third.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from domalign.corpus_words import CorpusWords
from domalign.ingest.parsers import parse_document
from domalign.routing import about_corpus

DEMO = Path(__file__).parent.parent / "domalign" / "demo" / "corpus"


def texts(paths: list[Path]) -> list[str]:
    return [parse_document(path.name, None, path.read_bytes()).text for path in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fictional", type=Path, required=True, help="the fictional-knowledge folder")
    parser.add_argument("--first", type=int, default=20, help="the first N documents / paragraphs")
    parser.add_argument("--skip", type=int, default=0,
                        help="skip the first N documents / paragraphs: a check on ones a rule was not chosen on")
    parser.add_argument("--questions", type=Path, required=True,
                        help="natural questions on the first 20 fictional docs (counted with --skip 0 only)")
    parser.add_argument("--squad", type=Path, required=True, help="xquad-en json")
    parser.add_argument("--general", type=Path, action="append", required=True, help="general-knowledge set")
    parser.add_argument("--without-counts", action="store_true",
                        help="judge as for an adapter saved without its corpus's word counts (before 2026-12-07)")
    parser.add_argument("--show", action="store_true", help="list the questions on the wrong side")
    args = parser.parse_args()

    window = slice(args.skip, args.skip + args.first)
    docs = sorted((args.fictional / "docs").iterdir())[window]
    doc_names = {doc.name for doc in docs}
    probes = [json.loads(line) for line in (args.fictional / "probes.jsonl").read_text().splitlines() if line]
    paragraphs = [p for a in json.loads(args.squad.read_text())["data"] for p in a["paragraphs"]][window]

    def counted(texts: list[str]) -> CorpusWords:
        words = CorpusWords.of(texts)
        return CorpusWords(words.words) if args.without_counts else words

    corpora = {"fictional": counted(texts(docs)), "xquad-en": counted([p["context"] for p in paragraphs]),
               "demo": counted(texts(sorted(DEMO.iterdir())))}
    natural = [q["question"] for q in json.loads(args.questions.read_text())] if args.skip == 0 else []
    domain = {
        ("fictional natural questions", "fictional"): natural,
        ("fictional paraphrase probes", "fictional"): [p["prefix"] for p in probes if p["kind"] == "paraphrase"
                                                       and p["document"] in doc_names],
        ("xquad-en questions", "xquad-en"): [qa["question"] for p in paragraphs for qa in p["qas"]],
    }
    general = {(path.stem, corpus): [q["question"] for q in json.loads(path.read_text())]
               for path in args.general for corpus in corpora}
    results = []
    for kind, sets in (("domain", domain), ("general", general)):
        for (name, corpus), questions in sets.items():
            routed = [q for q in questions if not about_corpus(q, corpora[corpus])]
            results.append({"set": name, "corpus": corpus, "questions": len(questions), "routed": len(routed)})
            print(f"{name:32s} against {corpus:9s} {len(routed):4d} of {len(questions):4d} routed to the base model")
            wrong = routed if kind == "domain" else [q for q in questions if q not in routed]
            for question in wrong if args.show else []:
                print(f"    {'routed' if kind == 'domain' else 'kept'}: {question}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
