"""Wall time of each stage of a whole alignment: the demo corpus on the embedded model, as `domalign demo` runs it.

Starts a server (in a fresh temporary home with --fresh, so the first-run costs count: the GGUF
is dequantized and cached, the replay answers generated), uploads the four demo documents, aligns
with the demo's options, and reads the stage timings from the job's event log (stage_started →
stage_finished). Prints one table and writes it as JSON, with the before/after metrics.

  python bench/pipeline.py --fresh --steps 150 --out bench/results/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

from domalign.client import Client
from domalign.demo.run import CORPUS, follow, local_server
from domalign.models.embedded import EMBEDDED_MODEL_ID

HERE = Path(__file__).parent


def stage_seconds(events: list[dict]) -> dict[str, float]:
    """Seconds from each stage's first start to its finish (a resumed stage counts from its first start)."""
    started: dict[str, datetime] = {}
    seconds: dict[str, float] = {}
    for event in events:
        when = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
        if event["type"] == "stage_started":
            started.setdefault(event["stage"], when)
        elif event["type"] == "stage_finished":
            seconds[event["stage"]] = round((when - started[event["stage"]]).total_seconds(), 1)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="a new temporary DOMALIGN_HOME (first-run costs)")
    parser.add_argument("--steps", type=int, default=150, help="training steps (the demo's default)")
    parser.add_argument("--training", type=json.loads, default={},
                        help='more training options as JSON, e.g. \'{"pack_turns": 4}\'')
    parser.add_argument("--synthesis", type=json.loads, default={},
                        help='more synthesis options as JSON, e.g. \'{"grounded_per_chunk": 2}\'')
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pipeline.json")
    args = parser.parse_args()
    if args.fresh:
        os.environ["DOMALIGN_HOME"] = tempfile.mkdtemp(prefix="domalign-pipeline-")

    started = time.monotonic()
    with local_server() as (url, key), Client(url, key) as client:
        doc_ids = client.upload_documents(sorted(CORPUS.glob("*.md")), categories=["demo"])
        alignment_id = client.create_alignment(
            "pipeline benchmark", EMBEDDED_MODEL_ID, doc_ids,
            training={"max_steps": args.steps, **args.training},
            synthesis={"num_benchmark_questions": 40, **args.synthesis})
        status = follow(client, alignment_id)
        events = [e.model_dump(mode="json") for e in client.all_events(alignment_id)]
    total = time.monotonic() - started
    stages = stage_seconds(events)
    metrics = status.data.performance_metrics.model_dump() if status.data and status.data.performance_metrics else {}
    result = {
        "date": datetime.now().isoformat(timespec="seconds"), "fresh_home": args.fresh, "steps": args.steps,
        "training": args.training,
        "synthesis": args.synthesis,
        "status": status.status, "stage_seconds": stages, "alignment_seconds": round(sum(stages.values()), 1),
        "wall_seconds_with_server_start": round(total, 1), "metrics": metrics,
    }
    print(f"\n{'stage':<12} {'seconds':>8}")
    for stage, seconds in stages.items():
        print(f"{stage:<12} {seconds:>8.1f}")
    print(f"{'alignment':<12} {result['alignment_seconds']:>8.1f}   (with server start and upload: {total:.0f} s)")
    if metrics:
        print(f"accuracy {metrics['accuracy_before']:.3f} -> {metrics['accuracy_after']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
