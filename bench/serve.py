"""Serving throughput and latency: domalign's batched chat API against plain transformers ``generate``.

Against a running server (a local one is started unless --url is given), through
the official ``openai`` client, streaming:
  - time to first token for a ~200-token prompt (median of --repeat);
  - aggregate completion tokens/s with 1, 4, 16 concurrent streams (median of --repeat),
    counting the tokens the server reports in ``usage``;
then, in this process, plain ``transformers`` greedy ``generate`` on the same model,
one request at a time (what a user would run without a server); and, with --adapter (an
adapter folder of an alignment, e.g. ~/.domalign/blobs/alignments/<id>/adapter), the resident
memory each extra deployed adapter adds in the serving engine (the same adapter loaded under
several names beside one base).

  python bench/serve.py --model smollm2-135m-instruct --streams 1 4 8 16 --max-tokens 64 \
      --adapter ~/.domalign/blobs/alignments/<id>/adapter
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import openai

from domalign.demo.run import local_server

HERE = Path(__file__).parent
QUESTIONS = [
    "Describe how a ferry cooperative could plan its winter timetable.",
    "Explain the water cycle to a ten-year-old.",
    "Write a short note thanking a colleague for their help.",
    "What should a traveller pack for a week by the sea?",
]
# about 200 tokens with the question and the chat template
LONG_CONTEXT = ("The harbour office keeps a log of every crossing: the vessel, the crew on duty, the number of "
                "passengers, the weather at departure and any delay with its cause. ") * 5


def stream_once(client: openai.OpenAI, model: str, question: str, max_tokens: int) -> tuple[float, int, float]:
    """(seconds to the first content chunk, completion tokens, total seconds) of one streamed answer."""
    started, first, tokens = time.perf_counter(), None, 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], max_tokens=max_tokens, temperature=0,
        stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return first or float("nan"), tokens, time.perf_counter() - started


def concurrent_rate(client: openai.OpenAI, model: str, streams: int, max_tokens: int) -> float:
    """Aggregate completion tokens/s of ``streams`` streams started together."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        runs = list(pool.map(lambda i: stream_once(client, model, QUESTIONS[i % len(QUESTIONS)], max_tokens),
                             range(streams)))
    return sum(tokens for _, tokens, _ in runs) / (time.perf_counter() - started)


def transformers_rate(model_id: str, max_tokens: int, repeat: int) -> dict:
    """Plain greedy ``generate``, one request at a time, on the same weights."""
    import torch

    from domalign.config import Settings
    from domalign.models.loader import load_base_model
    from domalign.models.precision import use_bf16
    from domalign.models.tokens import stop_token_ids
    from domalign.workflow.catalog import get_base_model
    from domalign.workflow.context import Context

    settings = Settings()
    source = get_base_model(Context.open(settings), model_id).source
    model, tokenizer = load_base_model(source, cache_dir=settings.model_cache_dir)
    model.eval()
    if use_bf16(settings.serve_precision, torch.device("cpu")):
        model.to(torch.bfloat16)  # the weights the server serves
    rates, ttfts = [], []
    for i in range(repeat + 1):
        for question in QUESTIONS:
            text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                 add_generation_prompt=True)
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            started = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False,
                                     eos_token_id=stop_token_ids(model, tokenizer), pad_token_id=0)
            seconds = time.perf_counter() - started
            if i:  # the first round warms up
                rates.append((out.shape[1] - ids.shape[1]) / seconds)
        long_ids = tokenizer(LONG_CONTEXT + QUESTIONS[0], return_tensors="pt")["input_ids"]
        started = time.perf_counter()
        with torch.inference_mode():
            model.generate(long_ids, max_new_tokens=1, do_sample=False, pad_token_id=0)
        if i:
            ttfts.append(time.perf_counter() - started)
    return {"tokens_per_s": statistics.median(rates), "ttft_s": statistics.median(ttfts),
            "dtype": str(model.dtype)}


def rss_mb() -> float:
    """Resident memory of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def adapter_memory(model_id: str, adapter: Path, count: int = 4) -> dict:
    """Resident MB per extra adapter deployed beside one base model in the serving engine."""
    import gc

    from domalign.config import Settings
    from domalign.serve.engine import ServingEngine
    from domalign.workflow.catalog import load_catalog_model
    from domalign.workflow.context import Context

    ctx = Context.open(Settings())
    engine = ServingEngine(lambda base_id: load_catalog_model(ctx, base_id))
    engine.add_adapter(model_id, "adapter-0", adapter)  # the first one also wraps the base in PEFT
    gc.collect()
    before = rss_mb()
    for i in range(1, count + 1):
        engine.add_adapter(model_id, f"adapter-{i}", adapter)
    gc.collect()
    after = rss_mb()
    engine.close()
    size = sum(f.stat().st_size for f in adapter.iterdir()) / 2**20
    return {"per_adapter_mb": round((after - before) / count, 1), "adapter_files_mb": round(size, 1),
            "adapters_added": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--adapter", type=Path, help="an adapter folder, to measure memory per deployed adapter")
    parser.add_argument("--url"), parser.add_argument("--api-key")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve.json")
    args = parser.parse_args()

    server = nullcontext((args.url, args.api_key)) if args.url else local_server()
    with server as (url, key):
        client = openai.OpenAI(base_url=f"{url.rstrip('/')}/v1", api_key=key, max_retries=0, timeout=600)
        stream_once(client, args.model, QUESTIONS[0], 4)  # load the model
        ttft = statistics.median(stream_once(client, args.model, LONG_CONTEXT + QUESTIONS[0], 8)[0]
                                 for _ in range(args.repeat))
        prompt_tokens = client.chat.completions.create(
            model=args.model, messages=[{"role": "user", "content": LONG_CONTEXT + QUESTIONS[0]}],
            max_tokens=1).usage.prompt_tokens
        rates = {n: statistics.median(concurrent_rate(client, args.model, n, args.max_tokens)
                                      for _ in range(args.repeat)) for n in args.streams}
    plain = transformers_rate(args.model, args.max_tokens, args.repeat)
    memory = adapter_memory(args.model, args.adapter.expanduser()) if args.adapter else None
    result = {
        "date": datetime.now().isoformat(timespec="seconds"), "model": args.model, "max_tokens": args.max_tokens,
        "repeat": args.repeat, "ttft_s": round(ttft, 3), "ttft_prompt_tokens": prompt_tokens,
        "tokens_per_s": {str(n): round(r, 1) for n, r in rates.items()},
        "speedup_vs_one_stream": {str(n): round(r / rates[args.streams[0]], 2) for n, r in rates.items()},
        "transformers_generate": {k: round(v, 3) if isinstance(v, float) else v for k, v in plain.items()},
        "adapter_memory": memory,
    }
    print(f"\nserving {args.model}: time to first token {ttft * 1000:.0f} ms for a {prompt_tokens}-token prompt "
          f"(plain transformers: {plain['ttft_s'] * 1000:.0f} ms)")
    print(f"{'streams':>8} {'tokens/s':>9} {'x one':>6}")
    for n, r in rates.items():
        print(f"{n:>8} {r:>9.1f} {r / rates[args.streams[0]]:>6.2f}")
    print(f"plain transformers generate ({plain['dtype']}), one at a time: {plain['tokens_per_s']:.1f} tokens/s")
    if memory:
        print(f"memory per extra deployed adapter: {memory['per_adapter_mb']} MB "
              f"(adapter files {memory['adapter_files_mb']} MB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
