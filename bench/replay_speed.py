"""How fast does the base model answer the replay prompts? Batch size and precision of that one-off step.

    python bench/replay_speed.py --prompts 64 --batches 8,32 --precisions fp32,bf16

A new home (or a new base model) answers the packaged general instructions once (``synthesis.replay_items``;
about 7 minutes of a first alignment on the 2-core machine with batches of 8 in fp32). This times
``model_replies``, which the synthesis stage calls, on the first ``--prompts`` prompts for each batch size and
precision, and counts the answers that differ from the first configuration's (bf16 rounds differently, so a
few greedy answers may change).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from domalign.config import Settings
from domalign.models.embedded import embedded_gguf_path
from domalign.models.loader import load_base_model
from domalign.models.precision import autocast
from domalign.synth.replay import replay_prompts
from domalign.workflow.stages import REPLAY_MAX_TOKENS
from domalign.workflow.teacher import model_replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batches", default="8,32")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "replay-speed.json")
    args = parser.parse_args()
    prompts = replay_prompts(args.prompts)
    model, tokenizer = load_base_model(str(embedded_gguf_path()), cache_dir=Settings().home / "model-cache")
    rows, first = [], None
    for precision in args.precisions.split(","):
        for batch in map(int, args.batches.split(",")):
            started = time.monotonic()
            with autocast(precision, model.device):
                replies = model_replies(model, tokenizer, prompts, REPLAY_MAX_TOKENS, lambda _f: None, batch=batch)
            seconds = time.monotonic() - started
            first = first or replies
            rows.append({"precision": precision, "batch": batch, "prompts": len(prompts),
                         "seconds": round(seconds, 1), "answered": sum(r is not None for r in replies),
                         "differ_from_first": sum(a != b for a, b in zip(first, replies, strict=True))})
            print(rows[-1], flush=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
