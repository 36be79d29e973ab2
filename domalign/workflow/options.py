"""Per-alignment options, validated at create time and saved with the job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domalign.retrieval import GROUNDED_PASSAGES
from domalign.train.config import TrainingConfig


class SynthesisOptions(BaseModel):
    """How much and what kind of training data and benchmark the synthesize stage makes."""

    model_config = ConfigDict(extra="forbid")

    num_benchmark_questions: int = Field(
        default=40, ge=2, le=5000, description="Size of the generated held-out benchmark."
    )
    seed: int = Field(default=0, description="Seed of every random choice in synthesis.")
    paraphrases_per_fact: int = Field(default=4, ge=0, le=20, description="Question phrasings per fact.")
    cloze_per_fact: int = Field(default=4, ge=0, le=10, description="Cloze items per fact.")
    include_raw_passages: bool = Field(default=True, description="Add raw passages for continued pre-training.")
    shuffled_per_chunk: int = Field(
        default=2, ge=0, le=10, description="Raw renderings of each chunk with its sentences in a new order."
    )
    include_sentences: bool = Field(default=True, description="Add every sentence alone as a raw passage.")
    replay_items: int = Field(
        default=400, ge=0, le=400,
        description="General instructions answered by the base model itself and mixed in, so the aligned "
        "model keeps its general behaviour (0 leaves them out; needs a chat template); at most `replay_share` "
        "of the other training items. The package ships 397; answers cut off at 96 tokens are left out, and "
        "at most twice the number wanted are generated (docs/quality.md measures 80 against 400).",
    )
    replay_share: float = Field(
        default=0.05, ge=0, le=1, description="Cap on replay items as a share of the document-derived items."
    )
    replay_repeats: int = Field(
        default=1, ge=1, le=4,
        description="Copies of each replay item in the training set, so that `replay_share` can be reached with "
        "fewer answered instructions than it asks for (answers cut off at the limit are left out); more than a "
        "few copies would teach those answers by heart.",
    )
    include_mc: bool = Field(default=True, description="Add multiple-choice training items.")
    noun_questions: bool = Field(
        default=False,
        description="Add one question per fact that asks for its answer by the kind of thing it is, where the "
        "sentence says the kind (\"… with which moon?\" from \"… with the moon, Deimos.\"), as people ask; never "
        "for a fact of the generated benchmark. Off by default: on the fictional natural questions two runs scored "
        "0.433 and 0.400 closed-book (grounded +0.017 and +0.033 over retrieval) against the default's 0.325 "
        "(+0.000) the same day, inside the default's spread over earlier runs (docs/quality.md).",
    )
    grounded_per_chunk: int = Field(
        default=0, ge=0, le=10,
        description="Grounded items per chunk: a question behind the passages retrieval finds for it "
        "(usually including the right one) → the answer, so the model reads passages better in grounded "
        "chat (`evaluation.passages_per_question` of them; needs `training.grounded_max_seq_len` ≥ 1024). "
        "2 per chunk measured grounded +0.025, closed-book −0.025 on the probes; on natural questions grounded "
        "+0.13 with `training.max_seq_len` 1024 too (docs/quality.md).",
    )
    refusal_share: float = Field(
        default=0.0, ge=0, le=0.2,
        description="Refusal items as a share of the other items: a training question asked again about an "
        "invented name (random syllables the documents never use) → \"The documents do not mention <name>.\", so "
        "the model declines instead of making up an answer; a decline is never a domain violation. The adapter then "
        "may decline only questions naming a word its documents never use (docs/serving.md). Off by default: at "
        "0.03, over eight demo seeds (4 documents, 150 steps), accuracy was 0.035 lower on average; docs/quality.md.",
    )
    max_train_items: int | None = Field(default=None, ge=1, description="Cap on training items (sampled).")
    teacher: Literal["auto", "none", "endpoint", "self"] = Field(
        default="auto",
        description="Who writes extra questions and paraphrases: `endpoint` (DOMALIGN_TEACHER_URL), `self` "
        "(the base model with the passage in its prompt; slow on a CPU), `none`, or `auto` = endpoint when "
        "one is configured, else none. Only items the passage backs are kept.",
    )


class EvaluationOptions(BaseModel):
    """What the baseline and evaluate stages measure besides the closed-book benchmark score."""

    model_config = ConfigDict(extra="forbid")

    grounded: bool = Field(
        default=False,
        description="Also score base and aligned model with retrieved passages in the prompt (RAG); "
        "reported in report.grounded.",
    )
    passages_per_question: int = Field(
        default=GROUNDED_PASSAGES, ge=1, le=20,
        description="Passages retrieved when grounded: the RAG row and the aligned grounded row read the same ones. "
        "One passage read better than two or three on held-out sets (docs/quality.md).",
    )
    extra_benchmark_ids: list[str] = Field(
        default_factory=list, max_length=10,
        description="More benchmarks scored before and after (e.g. general knowledge, to measure forgetting); "
        "reported in report.extra_benchmarks.",
    )


GROUNDED_MIN_SEQ_LEN = 1024
"""A grounded item carries several chunks of up to ~250 tokens each: shorter sequences would cut its answer off."""


class AlignmentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    training: TrainingConfig = Field(default_factory=TrainingConfig)
    synthesis: SynthesisOptions = Field(default_factory=SynthesisOptions)
    evaluation: EvaluationOptions = Field(default_factory=EvaluationOptions)

    @model_validator(mode="after")
    def _grounded_items_fit(self) -> AlignmentOptions:
        check_grounded_fit(self.training, self.synthesis)
        return self


def check_grounded_fit(training: TrainingConfig, synthesis: SynthesisOptions) -> None:
    """Grounded items need long sequences; say so instead of silently dropping them (a ValueError: 422)."""
    if synthesis.grounded_per_chunk and training.grounded_max_seq_len < GROUNDED_MIN_SEQ_LEN:
        raise ValueError(
            f"synthesis.grounded_per_chunk needs training.grounded_max_seq_len of at least {GROUNDED_MIN_SEQ_LEN} "
            f"(it is {training.grounded_max_seq_len}): grounded items carry several passages"
        )
