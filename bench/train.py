"""Training speed: our LoRA loop against TRL's SFTTrainer + PEFT on the same work.

Same model object, LoRA settings (r, alpha, dropout, target modules), examples (synthesized from the demo
corpus), batch size, learning-rate schedule and number of optimizer steps; the two run one after the other
in this process, alternating which goes first. Per trainer and repeat it measures:

  tokens/s      real (non-padding) tokens per second, from the end of step 1 to the end of the last step
  first step    seconds from the trainer call (data preparation and adapter included) to the end of step 1
  peak memory   torch.cuda.max_memory_allocated on a GPU; the highest RSS sampled every 20 ms on a CPU
  loss          mean token loss of the last step, and of the last five (the two see batches in other orders)
  held-out loss mean token loss of the trained adapter on every 10th example, which neither trainer sees,
                computed the same way (fp32, our encoding) for both: the comparable "loss reached";
                repeat r seeds both trainers with r, so the medians are over different data orders;
                also split into the answers of question/answer items and the raw-text items
  MFU           4 × parameters × tokens/s / the matmul peak this script measures in the trainers' matmul
                precision (LoRA on a frozen base: forward 2N, activation gradients 2N; parameters exclude
                the input embedding, a lookup)

  python bench/train.py --model tiny --steps 6 --batch-size 8 --device cpu
  python bench/train.py --model random-1b --device cuda --batch-size 128 --steps 30 --repeats 3 --out train.json

--model: a local Hugging Face folder or GGUF file, `embedded` (SmolLM2-135M-Instruct), `tiny` (a 2-layer
random llama), or `random-1b` (a random 1.2B llama in TinyLlama's shape, built on the device; it needs a
tokenizer with a chat template: --tokenizer, else the embedded model's).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from domalign.domain import TrainExample
from domalign.train import TrainingConfig, train_lora
from domalign.train.data import examples_fingerprint

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "domalign" / "demo" / "corpus"
RANDOM_1B = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, max_position_embeddings=2048, tie_word_embeddings=False)


@dataclass
class Run:
    """One trainer's measurements in one repeat."""

    trainer: str
    tokens_per_s: float
    padded_tokens_per_s: float
    first_step_s: float
    peak_memory_gib: float
    final_loss: float
    loss_last5: float
    real_tokens: int
    steps: int
    mfu: float = 0.0
    heldout_loss: float = 0.0
    heldout_answer_loss: float = 0.0  # on the answer tokens of the question/answer items alone
    heldout_text_loss: float = 0.0  # on the raw-text items alone (passages, sentences, shuffled renderings)


# --- what both trainers get


def load_model(spec: str, device: str, weights: str, tokenizer_path: str | None, work: Path):
    """The base model with ``weights`` ("bf16" or "fp32") on ``device``, and a tokenizer whose pad token is set."""
    from domalign.models.loader import load_base_model

    dtype = {"bf16": "bfloat16", "fp32": "float32"}[weights]
    if spec == "random-1b":
        tokenizer = _tokenizer(tokenizer_path)
        return _random_1b(device, getattr(torch, dtype), tokenizer), tokenizer
    if spec == "tiny":
        from domalign.models.tiny import build_tiny_llama

        spec = str(build_tiny_llama(work / "tiny"))
    cache = work / "model-cache"
    if spec == "embedded":  # the app's cache of the dequantized GGUF, so it is unpacked only once
        from domalign.config import Settings
        from domalign.models.embedded import embedded_gguf_path

        spec, cache = str(embedded_gguf_path()), Settings().model_cache_dir
    model, tokenizer = load_base_model(spec, cache_dir=cache, dtype=dtype)
    return model.to(device), tokenizer


def _tokenizer(path: str | None):
    from transformers import AutoTokenizer

    if path is None:
        from domalign.models.embedded import embedded_gguf_path

        gguf = embedded_gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return tokenizer


def _random_1b(device: str, dtype: torch.dtype, tokenizer):
    """Random weights are enough for throughput; nothing can be downloaded on the GPU machine."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **RANDOM_1B)
    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM._from_config(config, dtype=dtype).eval()


def demo_examples() -> list[TrainExample]:
    """The synthetic training set the demo alignment trains on."""
    from domalign.ingest import chunk_text, parse_document
    from domalign.synth import synthesize

    chunks = []
    for path in sorted(CORPUS.glob("*.md")):
        chunks += chunk_text(path.stem, parse_document(path.name, "text/markdown", path.read_bytes()).text)
    return synthesize(chunks, num_benchmark=40).train


def matmul_parameters(model) -> int:
    """Parameters that take part in a matrix product: all but an untied input embedding."""
    embedding, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    return total if embedding is head else total - embedding.numel()


def split_heldout(examples: list[TrainExample]) -> tuple[list[TrainExample], list[TrainExample]]:
    """(training examples, every 10th example): the held-out ones score both adapters."""
    return [ex for i, ex in enumerate(examples) if i % 10], examples[::10]


def heldout_loss(model, tokenizer, adapter_dir: Path, heldout: list[TrainExample], max_seq_len: int
                 ) -> dict[str, float]:
    """Mean token loss of ``adapter_dir`` on ``heldout``: our trainer's encoding and loss, fp32, one at a time.

    Also split into answer tokens and raw-text items, so a difference in the total shows where it is
    (a token mean over both is weighted by the long raw texts).
    """
    from peft import PeftModel

    from domalign.train.data import collate, encode_example
    from domalign.train.lora import _labelled, _loss_sum

    config = TrainingConfig(max_seq_len=max_seq_len)
    device = next(model.parameters()).device
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    sums = {"answer": [0.0, 0], "text": [0.0, 0]}
    with torch.inference_mode():
        for example in heldout:
            encoded = encode_example(tokenizer, example, config)
            if encoded is None:
                continue
            batch = {key: value.to(device) for key, value in collate([encoded], pad_token_id=0).items()}
            part = sums["text" if example.prompt is None else "answer"]
            part[0] += _loss_sum(peft_model, batch).item()
            part[1] += _labelled(batch)
    peft_model.unload()
    total, count = (sum(part[i] for part in sums.values()) for i in (0, 1))
    return {"heldout_loss": total / count,
            **{f"heldout_{name}_loss": s / max(n, 1) for name, (s, n) in sums.items()}}


def matmul_peak(device: str, precision: str) -> float:
    """FLOP/s of a large square matrix product in the trainers' matmul precision."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n, reps = (8192, 20) if device == "cuda" else (2048, 5)
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


# --- instruments shared by both trainers


class Meter:
    """Counts tokens at the decoder's input and marks step ends; timing starts at ``start()``."""

    def __init__(self, model, device: str):
        self.device, self.real, self.padded = device, 0, 0
        self.marks: list[tuple[float, int, int]] = []  # (time, real tokens, padded tokens) at each step end
        self._hook = model.get_decoder().register_forward_pre_hook(self._count, with_kwargs=True)
        self._rss = _RssSampler() if device == "cpu" else None

    def _count(self, module, args, kwargs) -> None:
        if not module.training:  # ours checks its loss function in eval mode once; not training work
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask, positions = kwargs.get("attention_mask"), kwargs.get("position_ids")
        # tensor sums, read only at step ends: no extra GPU sync
        if mask is not None:
            self.real += mask.sum()
        elif positions is not None:  # our packed rows: padding is tokens at position 0 not followed by 1
            nxt = torch.cat([positions[:, 1:], torch.zeros_like(positions[:, :1])], dim=1)
            self.real += ids.numel() - ((positions == 0) & (nxt != 1)).sum()
        else:
            self.real += ids.numel()
        self.padded += ids.numel()

    def start(self) -> None:
        _sync(self.device)
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.real = self.padded = 0
        self.marks = []
        self.t0 = time.perf_counter()
        if self._rss:
            self._rss.start()

    def step_end(self) -> None:
        _sync(self.device)
        self.marks.append((time.perf_counter(), int(self.real), self.padded))

    def finish(self, trainer: str, losses: list[float]) -> Run:
        peak = torch.cuda.max_memory_allocated() if self.device == "cuda" else self._rss.stop()
        self._hook.remove()
        (t1, real1, pad1), (tn, realn, padn) = self.marks[0], self.marks[-1]
        span = tn - t1
        return Run(trainer, (realn - real1) / span, (padn - pad1) / span, t1 - self.t0, peak / 2**30,
                   losses[-1], statistics.fmean(losses[-5:]), realn, len(self.marks))


class _RssSampler:
    """Peak resident memory of this process while a run lasts (ru_maxrss cannot be reset)."""

    def start(self) -> None:
        import psutil

        self._proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class StepProfiler:
    """Where our trainer's steps spend their time: ``rows`` operators by self time on the device, over
    steps 3 to 5 (after warm-up); printed once. Off (rows 0) unless asked for."""

    FIRST, LAST = 2, 5  # profile from the end of step FIRST to the end of step LAST

    def __init__(self, device: str, rows: int):
        self.device, self.rows, self._profile = device, rows, None

    def step_end(self, step: int) -> None:
        if not self.rows:
            return
        from torch.profiler import ProfilerActivity, profile

        if step == self.FIRST:
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device == "cuda" else [])
            self._profile = profile(activities=activities)
            self._profile.__enter__()
        elif step == self.LAST and self._profile is not None:
            _sync(self.device)
            self._profile.__exit__(None, None, None)
            key = "self_device_time_total" if self.device == "cuda" else "self_cpu_time_total"
            print(f"profile of steps {self.FIRST + 1}-{self.LAST}, by {key}:")
            print(self._profile.key_averages().table(sort_by=key, row_limit=self.rows), flush=True)
            self._profile, self.rows = None, 0


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# --- the two trainers


def run_ours(model, tokenizer, examples, args, work: Path, profile_rows: int = 0) -> Run:
    extra = {"precision": args.precision} if "precision" in TrainingConfig.model_fields else {}
    config = TrainingConfig(
        max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, max_seq_len=args.max_seq_len,
        lora_r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=args.lora_dropout, validation_fraction=0,
        checkpoint_every=args.steps, compile_layers=args.compile,
        seed=args.seed,
        **extra,
    )
    meter = Meter(model, args.device)
    profiler = StepProfiler(args.device, profile_rows)
    meter.start()

    def on_progress(progress) -> None:
        meter.step_end()
        profiler.step_end(progress.step)

    result = train_lora(model, tokenizer, examples, config, output_dir=work / "ours-adapter",
                        checkpoint_dir=work / "ours-checkpoints", on_progress=on_progress)
    run = meter.finish("ours", result.losses)
    return replace(run, **heldout_loss(model, tokenizer, work / "ours-adapter", args.heldout, args.max_seq_len))


def run_trl(model, tokenizer, examples, args, work: Path) -> Run:
    """SFTTrainer with the same LoRA, data and schedule; its own defaults otherwise, except as noted."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from domalign.train.data import render_chat

    ours = TrainingConfig()
    meter = Meter(model, args.device)

    class StepEnd(TrainerCallback):
        def on_step_end(self, *_, **__):
            meter.step_end()

    sft = SFTConfig(
        output_dir=str(work / "trl"), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, lr_scheduler_type="linear", warmup_steps=ours.warmup_ratio,
        weight_decay=ours.weight_decay, max_grad_norm=1.0, max_length=args.max_seq_len, seed=args.seed,
        bf16=args.precision == "bf16", use_cpu=args.device == "cpu",
        gradient_checkpointing=False,  # TRL's default recomputes the forward: more work than ours does
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
    )
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=ours.lora_dropout,
                      target_modules=list(ours.target_modules), bias="none", task_type="CAUSAL_LM")
    had_forward = "forward" in vars(model)  # TRL patches the instance's forward with its fused LM head
    meter.start()
    # Prompted items rendered with the chat template as ours renders them; raw text as a prompt-less item.
    rows = [dict(zip(("prompt", "completion"), render_chat(tokenizer, ex.prompt, ex.completion), strict=True))
            if ex.prompt is not None else {"prompt": "", "completion": ex.completion} for ex in examples]
    if args.same_batches:  # our first epoch's batches in our order, read in sequence
        rows = [rows[i] for i in _our_batch_order(tokenizer, examples, args)]
        sft.train_sampling_strategy = "sequential"
    trainer = SFTTrainer(model=model, args=sft, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora, callbacks=[StepEnd()])
    trainer.remove_callback(PrinterCallback)  # a dict per step; the summary is printed at the end
    trainer.train()
    run = meter.finish("trl", [entry["loss"] for entry in trainer.state.log_history if "loss" in entry])
    trainer.model.save_pretrained(work / "trl-adapter")
    trainer.model.unload()
    if not had_forward:
        vars(model).pop("forward", None)
    model.eval()
    return replace(run, **heldout_loss(model, tokenizer, work / "trl-adapter", args.heldout, args.max_seq_len))


def _our_batch_order(tokenizer, examples, args) -> list[int]:
    """The examples of our first ``args.steps`` batches (seed ``args.seed``, packed: random batches), in order."""
    from domalign.train.data import encode_example, epoch_batches

    config = TrainingConfig(max_seq_len=args.max_seq_len)
    encoded = [encode_example(tokenizer, ex, config) for ex in examples]
    if any(item is None for item in encoded):  # ours would drop it, and its batches would not index these rows
        raise SystemExit("--same-batches needs every example to keep an answer within --max-seq-len")
    lengths = [len(item.input_ids) for item in encoded]
    batches = epoch_batches(lengths, args.batch_size, seed=args.seed, epoch=0, mega_batch=1)[: args.steps]
    if len(batches) < args.steps or any(len(batch) != args.batch_size for batch in batches):
        raise SystemExit("--same-batches needs --steps within one epoch of full batches")
    return [i for batch in batches for i in batch]


TRAINERS = {"ours": run_ours, "trl": run_trl}


# --- report


def summarize(runs: list[list[Run]]) -> dict:
    """Medians per trainer and, when both ran, the median of the per-repeat ours/TRL ratios."""
    by = {name: [r for rep in runs for r in rep if r.trainer == name] for name in ("ours", "trl")}
    fields = [f for f in asdict(runs[0][0]) if f != "trainer"]
    medians = {name: {f: statistics.median(getattr(r, f) for r in rs) for f in fields} for name, rs in by.items() if rs}
    pairs = [{r.trainer: r for r in rep} for rep in runs]
    ratios = {f: statistics.median(getattr(p["ours"], f) / getattr(p["trl"], f) for p in pairs)
              for f in ("tokens_per_s", "first_step_s", "peak_memory_gib", "heldout_loss", "heldout_answer_loss",
                        "heldout_text_loss")} if len(medians) == 2 else {}
    return {"median": medians, "ratio_ours_over_trl": ratios}


def print_table(summary: dict, header: str) -> None:
    rows = [("real tokens/s", "tokens_per_s", "{:,.0f}"), ("padded tokens/s", "padded_tokens_per_s", "{:,.0f}"),
            ("MFU", "mfu", "{:.1%}"), ("time to first step (s)", "first_step_s", "{:.2f}"),
            ("peak memory (GiB)", "peak_memory_gib", "{:.2f}"), ("final loss", "final_loss", "{:.3f}"),
            ("mean loss, last 5 steps", "loss_last5", "{:.3f}"), ("held-out loss", "heldout_loss", "{:.3f}"),
            ("  on answers", "heldout_answer_loss", "{:.3f}"), ("  on raw text", "heldout_text_loss", "{:.3f}")]
    med, ratio = summary["median"], summary["ratio_ours_over_trl"]
    print(header)
    print(f"{'median':<26}" + "".join(f"{name:>14}" for name in med) + ("  ours/trl" if ratio else ""))
    for label, key, fmt in rows:
        cells = "".join(f"{fmt.format(m[key]):>14}" for m in med.values())
        print(f"{label:<26}{cells}" + (f"{ratio[key]:>9.2f}x" if key in ratio else ""))


def environment(device: str) -> dict:
    import peft
    import transformers

    lora_py = ROOT / "domalign" / "train" / "lora.py"
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.node(),
            "processor": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
            "cpus": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__, "trl": _version("trl"),
            "lora_py_sha256": hashlib.sha256(lora_py.read_bytes()).hexdigest()[:12]}


def _version(package: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tokenizer", help="tokenizer folder for random-1b (default: the embedded model's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first repeat (repeat r uses this + r)")
    parser.add_argument("--lr", type=float, default=TrainingConfig().learning_rate)
    parser.add_argument("--lora-r", type=int, default=TrainingConfig().lora_r, help="alpha is 2r, as ours defaults")
    parser.add_argument("--lora-dropout", type=float, default=TrainingConfig().lora_dropout,
                        help="dropout on the LoRA input of both trainers")
    parser.add_argument("--max-seq-len", type=int, default=TrainingConfig().max_seq_len)
    parser.add_argument("--precision", choices=["bf16", "fp32"], help="matmul precision of both trainers "
                        "(ours: TrainingConfig.precision, TRL: bf16=); default: bf16 on cuda, fp32 on cpu")
    parser.add_argument("--weights", choices=["bf16", "fp32"], help="dtype of the frozen base weights; "
                        "default: bf16 on cuda, fp32 on cpu")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default=TrainingConfig().compile_layers,
                        help="our trainer's compile_layers (TRL keeps its default: no torch.compile)")
    parser.add_argument("--trainers", default="ours,trl", type=lambda v: v.split(","),
                        help="which to run, comma-separated: ours, trl")
    parser.add_argument("--same-batches", action="store_true",
                        help="TRL trains on our batches in our order (a sequential sampler) instead of drawing its "
                        "own: the two trainers then differ only in how they take a step")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="after the measured repeats, one more run of ours, outside the results, that prints this "
                        "many operators of a profile of its steps 3-5")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    args.precision = args.precision or ("bf16" if args.device == "cuda" else "fp32")
    args.weights = args.weights or ("bf16" if args.device == "cuda" else "fp32")
    if not args.trainers or set(args.trainers) - set(TRAINERS):
        parser.error(f"--trainers takes a comma-separated subset of {', '.join(TRAINERS)}")
    if args.steps < 2:
        parser.error("--steps must be at least 2: tokens/s is timed from the end of step 1")

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        examples, args.heldout = split_heldout(demo_examples())
        model, tokenizer = load_model(args.model, args.device, args.weights, args.tokenizer, work)
        n_params, peak = matmul_parameters(model), matmul_peak(args.device, args.precision)
        runs = []
        for repeat in range(args.repeats):
            order = [TRAINERS[name] for name in args.trainers]
            order = order if repeat % 2 == 0 else order[::-1]
            args.seed = args.first_seed + repeat  # data order (both) and adapter initialisation: each repeat draws anew
            pair = [fn(model, tokenizer, examples, args, work / f"r{repeat}") for fn in order]
            for run in pair:
                run.mfu = 4 * n_params * run.tokens_per_s / peak
                print(json.dumps(asdict(run)), flush=True)
            runs.append(pair)
        if args.profile:
            args.seed = args.first_seed
            run_ours(model, tokenizer, examples, args, work / "profile", profile_rows=args.profile)
    summary = summarize(runs)
    header = (f"{args.model} ({n_params / 1e9:.2f}B matmul parameters), {len(examples)} examples "
              f"({len(args.heldout)} more held out), "
              f"{args.steps} steps × batch {args.batch_size}, {args.weights} weights, {args.precision} matmuls "
              f"on {args.device}, "
              f"measured peak {peak / 1e12:.1f} TFLOP/s, {args.repeats} repeat(s)")
    print_table(summary, header)
    if args.out:
        result = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                           if k not in ("heldout", "seed")},
                  "environment": environment(args.device), "matmul_parameters": n_params,
                  "peak_flops": peak, "examples": len(examples), "heldout_examples": len(args.heldout),
                  "examples_fingerprint": examples_fingerprint(examples)[:12],
                  "runs": [[asdict(r) for r in rep] for rep in runs],
                  **summary}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
