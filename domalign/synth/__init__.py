"""Synthesize stage: chunks → training items and a held-out benchmark, teacherless.

    synthesize(chunks, num_benchmark=, config=, benchmark=) -> SynthesisResult
    generate_benchmark(chunks, num_questions, seed=) -> list[BenchmarkItem]
    ngram_overlap(train_texts, bench_texts, n=8) -> float

Data flows one way through the modules:

    spans      typed answer spans in a sentence (date, year, number, ordinal, person, place, ...)
    facts      fact-bearing sentences of the chunks, one Fact per answer
    questions  a fact's phrasings: the training family and the trimmed benchmark family
    generators training items (qa, paraphrase, cloze, mc, raw) and same-type distractors
    split      benchmark selection, n-gram overlap, verbatim-leak detection
    pipeline   the two entry points above

Everything is rule-based, pure Python and deterministic for a given seed.
"""

from domalign.synth.pipeline import (
    SynthesisConfig,
    SynthesisResult,
    generate_benchmark,
    synthesize,
)
from domalign.synth.split import ngram_overlap

__all__ = ["SynthesisConfig", "SynthesisResult", "generate_benchmark", "ngram_overlap", "synthesize"]
