"""The six stages of an alignment (DESIGN §3).

A stage is a contract: ``name``, the top-level ``status`` while it runs, and
``run(job) -> summary``. It reads its inputs from the store, writes its outputs
atomically before returning, and leaves retry, resume and failure to the runner.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from domalign.corpus_words import CorpusWords
from domalign.domain import Chunk, TrainExample
from domalign.ids import new_id
from domalign.status import AlignmentStatus
from domalign.store.tables import AlignedModel, Alignment, Evaluation
from domalign.synth.refusals import REFUSAL_KIND
from domalign.workflow import benchmarks, evaluations
from domalign.workflow.catalog import get_base_model
from domalign.workflow.documents import load_chunks
from domalign.workflow.events import EventType
from domalign.workflow.job import JobRun
from domalign.workflow.teacher import endpoint_teacher, model_replies, self_teacher

if TYPE_CHECKING:
    from domalign.evaluate import KnownScores

REPLAY_MAX_TOKENS = 96  # a general answer longer than this is cut off, and left out of replay
REPLAY_BATCH = 32
"""Replay prompts the base model answers at once: 2.5× faster than 8 on the 2-core machine (128 prompts, 176 →
72 s, the same answers; bench/replay_speed.py), which matters once per base model and home, on a user's first
alignment."""


class Stage(Protocol):
    name: str
    status: AlignmentStatus

    def run(self, job: JobRun) -> dict[str, Any] | None: ...


def _chunks(job: JobRun) -> list[Chunk]:
    return [Chunk(**row) for row in job.ctx.blobs.read_jsonl(job.key("chunks.jsonl"))]


class Ingest:
    name, status = "ingest", AlignmentStatus.PENDING

    def run(self, job: JobRun) -> dict[str, Any]:
        """Freeze the job's corpus: the chunks of its documents as they are now."""
        chunks = load_chunks(job.ctx, job.spec.document_ids)
        job.ctx.blobs.write_jsonl(job.key("chunks.jsonl"), [asdict(c) for c in chunks])
        return {"documents": len(job.spec.document_ids), "chunks": len(chunks)}


class Synthesize:
    name, status = "synthesize", AlignmentStatus.PENDING

    def run(self, job: JobRun) -> dict[str, Any]:
        """Make the training set and, without a given benchmark, a held-out benchmark."""
        from domalign.synth import SynthesisConfig, synthesize

        opts = job.spec.options.synthesis
        config = SynthesisConfig(
            seed=opts.seed, paraphrases_per_fact=opts.paraphrases_per_fact,
            cloze_per_fact=opts.cloze_per_fact, include_raw_passages=opts.include_raw_passages,
            shuffled_per_chunk=opts.shuffled_per_chunk, include_sentences=opts.include_sentences,
            include_mc=opts.include_mc, noun_questions=opts.noun_questions, max_train_items=opts.max_train_items,
            replay_share=opts.replay_share, replay_repeats=opts.replay_repeats,
            grounded_per_chunk=opts.grounded_per_chunk, refusal_share=opts.refusal_share,
            grounded_passages=job.spec.options.evaluation.passages_per_question,
        )
        owner = job.spec.owner_id
        given = benchmarks.load_items(job.ctx, owner, job.benchmark_id) if job.benchmark_id else None
        extra = [item.question for bid in job.spec.options.evaluation.extra_benchmark_ids
                 for item in benchmarks.load_items(job.ctx, owner, bid)]
        chunks = _chunks(job)
        taught = self._teacher(job, chunks)  # progress 0.3-0.7 of the stage (replay answers: 0-0.3)
        result = synthesize(chunks, num_benchmark=opts.num_benchmark_questions, config=config, benchmark=given,
                            exclude_questions=extra, extra_train=taught["items"], replay=self._replay(job))
        job.report(self.name, 0.8)
        # Training data first: a crash before the benchmark is recorded regenerates both (same seed).
        job.ctx.blobs.write_jsonl(job.key("train.jsonl"), [asdict(e) for e in result.train])
        if given is None:
            bench = benchmarks.save_items(
                job.ctx, owner, result.benchmark, name=f"held-out benchmark of {job.spec.id}",
                source="alignment", doc_ids=job.spec.document_ids,
            )
            job.update_row(benchmark_id=bench.id)
            job.benchmark_id = bench.id
        teacher = {"teacher": taught["report"]} if taught["report"] else {}
        job.update_row(report={"synthesis": result.overlap, **teacher})
        return {k: v for k, v in result.overlap.items() if isinstance(v, (int, float))}

    @staticmethod
    def _teacher(job: JobRun, chunks: list[Chunk]) -> dict[str, Any]:
        """Teacher-written items and the teacher's report (``synth.teacher``); none without a teacher.

        The filtered items are saved with the job, so a synthesis re-run after a
        crash does not ask (or pay) the teacher again.
        """
        from domalign.synth.teacher import teach

        choice = job.spec.options.synthesis.teacher
        if choice == "auto":
            choice = "endpoint" if job.ctx.settings.teacher_url else "none"
        if choice == "none":
            return {"items": [], "report": None}
        def ask_teacher() -> dict[str, Any]:
            progress = lambda f: job.report("synthesize", 0.3 + 0.4 * f)  # noqa: E731
            if choice == "endpoint":
                ask = endpoint_teacher(job.ctx.settings, progress, job.should_stop)
            else:
                model, tokenizer = job.base_model()
                ask = self_teacher(model, tokenizer, progress, job.should_stop)
            items, report = teach(chunks, ask)
            return {"items": [asdict(i) for i in items], "report": {"teacher": choice, **asdict(report)}}

        saved = job.ctx.blobs.cached_json(job.key("teacher.json"), ask_teacher)
        return {"items": [TrainExample(**row) for row in saved["items"]], "report": saved["report"]}

    @staticmethod
    def _replay(job: JobRun) -> Callable[[int], list[TrainExample]]:
        """The base model's own answers to general instructions (see ``synth.replay``), on demand.

        Synthesis asks for as many as its cap lets in (a share of the document items), so a small
        corpus waits for a few answers, not all of them. Answers depend only on the base model and
        the prompt: they are kept per prompt in the blob store and generated once per base model.
        """
        from domalign.synth.replay import collect_replay, replay_prompts

        prompts = replay_prompts(job.spec.options.synthesis.replay_items)
        source = get_base_model(job.ctx, job.spec.base_model).source
        digest = hashlib.sha256(json.dumps([job.spec.base_model, source, REPLAY_MAX_TOKENS]).encode())
        key = f"replay-answers/{digest.hexdigest()[:32]}.json"

        def items(wanted: int) -> list[TrainExample]:
            known: dict[str, str | None] = job.ctx.blobs.read_json(key) if job.ctx.blobs.exists(key) else {}

            def saved(found: int) -> None:
                job.ctx.blobs.write_json(key, known)
                job.report("synthesize", 0.3 * min(found / max(wanted, 1), 1.0))

            return collect_replay(prompts, wanted, known, lambda batch: _base_answers(job, batch), REPLAY_BATCH, saved)

        return items


def _base_answers(job: JobRun, prompts: list[str]) -> list[str | None]:
    """Greedy answers of the base model; ``None`` for one cut off at the limit or with no chat template."""
    model, tokenizer = job.base_model()
    if not getattr(tokenizer, "chat_template", None):
        return [None] * len(prompts)
    return model_replies(model, tokenizer, prompts, REPLAY_MAX_TOKENS, lambda _f: None, job.should_stop,
                         batch=REPLAY_BATCH)


def _runs(job: JobRun) -> list[tuple[str, list, bool]]:
    """(name, items, grounded) of every evaluation a stage makes: closed-book first."""
    opts = job.spec.options.evaluation
    main = benchmarks.load_items(job.ctx, job.spec.owner_id, job.benchmark_id)
    runs = [("closed_book", main, False)]
    if opts.grounded:
        runs.append(("grounded", main, True))
    runs += [(bid, benchmarks.load_items(job.ctx, job.spec.owner_id, bid), False) for bid in opts.extra_benchmark_ids]
    return runs


def _evaluate(job: JobRun, stage: str, model: Any, tokenizer: Any,
              corpus: CorpusWords | None = None) -> dict[str, Any]:
    """Score ``model`` on every run; write ``eval_<stage>.json``; return the closed-book summary. The adapter's
    ``corpus`` words guard the declines of an adapter that learned them (:mod:`domalign.declines`) and route
    general questions to the base model (:mod:`domalign.routing`), which answered them in the baseline already."""
    from domalign.evaluate import QuestionResult, evaluate_model

    runs, chunks, training = _runs(job), _chunks(job), job.spec.options.training
    baseline = job.ctx.blobs.read_json(job.key("eval_baseline.json"))["runs"] if stage == Evaluate.name else {}
    total, done, out = sum(len(items) for _, items, _ in runs), 0, {}
    for name, items, grounded in runs:
        started = time.monotonic()
        report = evaluate_model(
            model, tokenizer, items, chunks, grounded=grounded,
            passages_per_question=job.spec.options.evaluation.passages_per_question,
            adapter_scale=training.grounded_adapter_scale, memory_weight=training.grounded_memory_weight,
            on_progress=lambda d, _t, base=done: job.report(stage, (base + d) / max(total, 1)),
            should_stop=job.should_stop,
            known=_known_scores(baseline, out) if grounded and stage == Evaluate.name else None,
            corpus=corpus, route_general=training.route_general_questions,
            base_results=[QuestionResult(**r) for r in baseline.get(name, {}).get("results", [])],
        )
        done += len(items)
        out[name] = {"summary": asdict(report.summary), "results": [asdict(r) for r in report.results]}
        job.event(EventType.EVALUATION, stage, run=name, seconds=round(time.monotonic() - started, 2),
                  **out[name]["summary"])
    job.ctx.blobs.write_json(job.key(f"eval_{stage}.json"), {**out["closed_book"], "runs": out})
    return out["closed_book"]["summary"]


def _known_scores(baseline: dict[str, Any], done: dict[str, Any]) -> KnownScores:
    """Choice scores the aligned model's grounded run can reuse: the base model reading the same passages
    (the ``baseline``'s grounded run), the adapter on the question alone (this stage's closed-book run) and the
    base model on the question alone (the baseline's closed-book run)."""
    from domalign.evaluate import KnownScores

    def by_index(run: dict[str, Any] | None) -> dict[int, list[float]]:
        return {} if run is None else {r["index"]: r["scores"] for r in run["results"] if r["kind"] == "mc"}

    return KnownScores(reader=by_index(baseline.get("grounded")), memory=by_index(done.get("closed_book")),
                       prior=by_index(baseline.get("closed_book")))


class Baseline:
    name, status = "baseline", AlignmentStatus.PENDING

    def run(self, job: JobRun) -> dict[str, Any]:
        model, tokenizer = job.base_model()
        return _evaluate(job, self.name, model, tokenizer)


class Train:
    name, status = "train", AlignmentStatus.PENDING

    def run(self, job: JobRun) -> dict[str, Any]:
        """LoRA on the synthetic set; resumes from the newest checkpoint after a restart."""
        examples = [TrainExample(**row) for row in job.ctx.blobs.read_jsonl(job.key("train.jsonl"))]
        budget = job.spec.options.training.max_time_s

        def on_progress(p) -> None:  # noqa: ANN001
            # with a time budget, training ends at whichever comes first: the last step or the budget
            fraction = max(p.step / max(p.total_steps, 1), p.elapsed_s / budget if budget else 0.0)
            job.report(self.name, fraction)
            if p.step % 10 == 0 or p.step == p.total_steps or p.validation_loss is not None:
                validation = {} if p.validation_loss is None else {"validation_loss": round(p.validation_loss, 5)}
                job.event(EventType.TRAIN_METRICS, self.name, step=p.step, total_steps=p.total_steps,
                          loss=round(p.loss, 5), learning_rate=p.learning_rate, epoch=round(p.epoch, 3), **validation)

        blobs, checkpoints = job.ctx.blobs, job.key("checkpoints")

        def on_checkpoint(step: int) -> None:
            blobs.publish_each(checkpoints)  # another machine may resume the job from it
            job.event(EventType.CHECKPOINT_SAVED, self.name, step=step)

        run = {
            "output_dir": blobs.path(job.key("adapter")),
            "checkpoint_dir": blobs.fetch_each(checkpoints),
            "on_progress": on_progress,
            "on_checkpoint": on_checkpoint,
            "should_stop": job.should_stop,
        }
        settings, config = job.ctx.settings, job.spec.options.training
        source = get_base_model(job.ctx, job.spec.base_model).source
        if settings.executor == "ray":
            from domalign.train.ray_executor import RayCluster, train_on_ray

            cluster = RayCluster(settings.ray_workers, settings.ray_use_gpu, settings.ray_cpus_per_worker,
                                 settings.ray_storage_dir)
            result = train_on_ray(source, settings.model_cache_dir, examples, config, cluster,
                                  run_name=job.spec.id, **run)
        elif settings.executor == "process":
            from domalign.train.process_executor import train_in_child_process

            job.release_base_model()  # the child loads its own copy; a large model must not be held twice
            result = train_in_child_process(source, settings.model_cache_dir, examples, config, **run)
        else:
            from domalign.train import train_lora

            model, tokenizer = job.base_model()
            result = train_lora(model, tokenizer, examples, config, **run)
        declines = any(example.kind == REFUSAL_KIND for example in examples)  # then its declines are guarded
        CorpusWords.of((chunk.text for chunk in _chunks(job)), declines).save(blobs.path(job.key("adapter")))
        blobs.publish(job.key("adapter"))
        return {"steps": result.steps, "final_loss": result.final_loss, "validation_loss": result.validation_loss,
                "resumed_from_step": result.resumed_from_step, "stopped_early": result.stopped_early,
                "executor": settings.executor, "workers": settings.ray_workers if settings.executor == "ray" else 1}


class Evaluate:
    name, status = "evaluate", AlignmentStatus.EVALUATING

    def run(self, job: JobRun) -> dict[str, Any]:
        base, tokenizer, adapter = *job.base_model(), job.ctx.blobs.fetch(job.key("adapter"))
        with evaluations.with_adapter(base, adapter) as model:
            after = _evaluate(job, self.name, model, tokenizer, CorpusWords.load(adapter))
        baseline, evaluated = (job.ctx.blobs.read_json(job.key(f"eval_{s}.json")) for s in ("baseline", "evaluate"))
        self._record(job, baseline, evaluated)
        self._report_other_runs(job, baseline["runs"], evaluated["runs"])
        return after

    @staticmethod
    def _report_other_runs(job: JobRun, before: dict, after: dict) -> None:
        """Grounded and extra-benchmark summaries, before and after, into the alignment's report."""
        pairs = {name: {"before": before[name]["summary"], "after": after[name]["summary"]}
                 for name in after if name != "closed_book"}
        extra = {name: pair for name, pair in pairs.items() if name != "grounded"}
        with job.ctx.db.session() as session:
            row = session.get(Alignment, job.spec.id)
            row.report = {**row.report, **({"grounded": pairs["grounded"]} if "grounded" in pairs else {}),
                          **({"extra_benchmarks": extra} if extra else {})}

    @staticmethod
    def _record(job: JobRun, baseline: dict, evaluated: dict) -> None:
        """The alignment's evaluation row (base vs aligned, closed-book) and the status metrics."""
        before, after = ({"summary": r["summary"], "results": r["results"]} for r in (baseline, evaluated))
        with job.ctx.db.session() as session:
            stale = session.get(Alignment, job.spec.id).evaluation_id
        eval_id = evaluations.record_comparison(
            job.ctx, owner_id=job.spec.owner_id, alignment_id=job.spec.id, benchmark_id=job.benchmark_id,
            base_model=job.spec.base_model, before=before, after=after, replaces=stale,
        )
        before, after = before["summary"], after["summary"]
        with job.ctx.db.session() as session:
            row = session.get(Alignment, job.spec.id)
            row.evaluation_id = eval_id
            row.performance_metrics = {
                "accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"],
                "uncertainty_before": before["uncertainty"], "uncertainty_after": after["uncertainty"],
                "domain_violations_before": before["domain_violations"],
                "domain_violations_after": after["domain_violations"],
            }
            row.evaluation_results = {"accuracy": after["accuracy"], "total_questions": after["total_questions"],
                                      "mc_accuracy": after["mc_accuracy"],
                                      "freeform_accuracy": after["freeform_accuracy"]}


class Register:
    name, status = "register", AlignmentStatus.EVALUATING

    def run(self, job: JobRun) -> dict[str, Any]:
        """Give the adapter its model id; deployment is a separate, explicit step."""
        with job.ctx.db.session() as session:
            row = session.get(Alignment, job.spec.id)
            if row.model_id:  # registered before a crash, not yet marked done
                return {"model_id": row.model_id}
            model_id = new_id("model")
            session.add(AlignedModel(
                id=model_id, owner_id=job.spec.owner_id, alignment_id=job.spec.id,
                base_model=job.spec.base_model, adapter_key=job.key("adapter"),
            ))
            row.model_id = model_id
            if row.evaluation_id:  # the evaluation ran before the model had an id
                session.get(Evaluation, row.evaluation_id).model_id_2 = model_id
        return {"model_id": model_id}


PIPELINE: tuple[Stage, ...] = (Ingest(), Synthesize(), Baseline(), Train(), Evaluate(), Register())
