"""Teacherless training items: question/answer, paraphrase, cloze, multiple choice and raw text.

Per fact (see ``questions`` for the phrasings):

    qa          a question → the answer ("When was X constituted?" → "5 Outcrop 6678")
    paraphrase  a question → the whole sentence ("What happened on 5 Outcrop 6678?" → sentence)
    cloze       a sentence prefix → the rest; the first cut is just before the answer,
                the others at random word boundaries (sentence continuation)
    mc          "Question: …\\nOptions: A) …\\nAnswer:" → "C) 5 Outcrop 6678", distractors of the
                same answer type drawn from the other facts of the corpus

and per chunk, raw text (prompt None) for continued pre-training:

    raw         the chunk as written
    shuffled    the chunk with its sentences in another order, so a sentence is
                learned in several contexts rather than only after its neighbours
    sentence    each sentence alone, as a cloze question or a user's prompt meets it

and per chunk, for grounded answering (retrieval-augmented fine-tuning, "RAFT"):

    grounded    a fact's question behind the passages BM25 retrieves for it → the answer;
                mostly with the fact's own chunk among them (learn to read the right
                one among distractors), sometimes without (answer from memory)
Prompts and completions are stripped; a cloze prompt and its completion join
with one space. Every random choice comes from a ``random.Random`` seeded with
the run's seed and the fact's key or the chunk's fingerprint, both made from the
text alone, so output depends neither on fact order nor on the ids an upload gave.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from domalign.domain import GROUNDED_KIND, Chunk, TrainExample
from domalign.retrieval import BM25Index, grounded_question
from domalign.sentences import split_sentences
from domalign.synth.facts import Fact, normalize
from domalign.synth.questions import Phrasings

LETTERS = "ABCDEFGH"
NUM_DISTRACTORS = 3


def fact_rng(seed: int, fact: Fact, purpose: str) -> random.Random:
    """A generator private to one fact and one purpose (so adding items elsewhere changes nothing)."""
    return random.Random(f"{seed}|{purpose}|{fact.key}")


def distractor_pools(facts: Sequence[Fact]) -> dict[str, list[str]]:
    """Distinct answers per answer type, in first-seen order (one surface form per normal form)."""
    pools: dict[str, dict[str, str]] = {}
    for fact in facts:
        pools.setdefault(fact.answer_type, {}).setdefault(normalize(fact.answer), fact.answer)
    return {kind: list(forms.values()) for kind, forms in pools.items()}


def pick_distractors(fact: Fact, pools: dict[str, list[str]], rng: random.Random) -> list[str] | None:
    """NUM_DISTRACTORS answers of ``fact``'s type that cannot be mistaken for its answer; None if too few.

    Left out: the answer itself after normalization, answers that contain it or
    that it contains ("Smith" / "Hayden Smith"), and answers that occur in the
    fact's own sentence (they might be right too).
    """
    answer = f" {normalize(fact.answer)} "
    sentence = f" {normalize(fact.sentence)} "
    candidates = []
    for other in pools.get(fact.answer_type, []):
        key = f" {normalize(other)} "
        if key.strip() and key not in answer and answer not in key and key not in sentence:
            candidates.append(other)
    if len(candidates) < NUM_DISTRACTORS:
        return None
    return rng.sample(candidates, NUM_DISTRACTORS)


def shuffled_choices(answer: str, distractors: list[str], rng: random.Random) -> tuple[str, ...]:
    choices = [answer, *distractors]
    rng.shuffle(choices)
    return tuple(choices)


def mc_prompt(question: str, choices: Sequence[str]) -> str:
    """The training form of a multiple-choice item; the completion is "<letter>) <answer>"."""
    options = "\n".join(f"{LETTERS[i]}) {choice}" for i, choice in enumerate(choices))
    return f"Question: {question}\nOptions:\n{options}\nAnswer:"


def fact_items(
    fact: Fact, phr: Phrasings, *, seed: int, paraphrases: int, clozes: int, pools: dict[str, list[str]] | None,
    noun_questions: bool = False,
) -> list[TrainExample]:
    """The training items of one fact; ``pools`` None leaves out multiple choice. A question by the answer's
    kind (``noun_questions``) comes on top of the ``paraphrases``, and never for a fact of a generated benchmark:
    only those keep frames ``withheld`` (synthesis clears them for the rest; an uploaded benchmark's questions
    are kept out by the leak filter instead)."""
    questions = allowed_questions(phr)
    items = _phrasing_items(fact, phr, questions)[:paraphrases]
    if noun_questions and phr.noun and not phr.withheld:
        items.append(_item(phr.noun, fact.answer, "qa", fact))
    items += _cloze_items(fact, clozes, fact_rng(seed, fact, "cloze"))
    stems = questions if questions or "complete" in phr.withheld else [phr.complete]
    if pools is not None and stems:
        rng = fact_rng(seed, fact, "train-mc")
        distractors = pick_distractors(fact, pools, rng)
        if distractors:
            choices = shuffled_choices(fact.answer, distractors, rng)
            letter = LETTERS[choices.index(fact.answer)]
            items.append(_item(mc_prompt(stems[0], choices), f"{letter}) {fact.answer}", "mc", fact))
    return items


def raw_items(chunks: Sequence[Chunk]) -> list[TrainExample]:
    """One raw passage per non-empty chunk, for continued pre-training."""
    return [TrainExample(None, c.text.strip(), "raw", c.id) for c in chunks if c.text.strip()]


def shuffled_items(chunks: Sequence[Chunk], count: int, seed: int) -> list[TrainExample]:
    """``count`` renderings of each chunk of two or more sentences, each in a new seeded order."""
    items = []
    for chunk in chunks:
        sentences = split_sentences(chunk.text)
        if len(sentences) < 2:
            continue
        rng = random.Random(f"{seed}|shuffle|{chunk.fingerprint}")
        seen = {tuple(sentences)}
        for _ in range(count * 3):  # a few retries: short chunks have few distinct orders
            order = rng.sample(sentences, len(sentences))
            if tuple(order) not in seen:
                seen.add(tuple(order))
                items.append(TrainExample(None, " ".join(order), "shuffled", chunk.id))
            if len(seen) > count:
                break
    return items


def sentence_items(chunks: Sequence[Chunk]) -> list[TrainExample]:
    """Every sentence of every chunk as its own raw passage."""
    return [TrainExample(None, s, "sentence", c.id) for c in chunks for s in split_sentences(c.text)]


def grounded_items(
    chunks: Sequence[Chunk], facts: Sequence[tuple[Fact, Phrasings]], *, per_chunk: int, passages: int,
    oracle_share: float, seed: int,
) -> list[TrainExample]:
    """Up to ``per_chunk`` grounded question → answer items per chunk, on facts drawn from it.

    The passages are what BM25 ranks best for the question, as grounded answering
    will retrieve them; with probability ``oracle_share`` the fact's own chunk is
    among them (put in at a random place when BM25 missed it), otherwise it is
    replaced by the next-ranked chunk. Evaluation and chat showed why both are
    needed: tuned on closed-book items only, the model answered from memory and
    read passages worse than before tuning.
    """
    if per_chunk <= 0 or passages <= 0:
        return []
    index, by_chunk = BM25Index(chunks), {}
    texts, fingerprints = {c.id: c.text for c in chunks}, {c.id: c.fingerprint for c in chunks}
    for fact, phr in facts:
        questions = allowed_questions(phr)
        if questions:
            by_chunk.setdefault(fact.chunk_id, []).append((fact, questions))
    items = []
    for chunk_id, candidates in by_chunk.items():
        rng = random.Random(f"{seed}|grounded|{fingerprints[chunk_id]}")
        for fact, questions in rng.sample(candidates, min(per_chunk, len(candidates))):
            question = rng.choice(questions)
            ranked = [c.id for c, _ in index.search(question, k=passages + 1)]
            others = [cid for cid in ranked if cid != chunk_id][:passages]
            if rng.random() < oracle_share:  # at BM25's rank when it found the chunk, else anywhere
                at = ranked.index(chunk_id) if chunk_id in ranked[:passages] else rng.randint(0, passages - 1)
                others = others[: passages - 1]
                others.insert(min(at, len(others)), chunk_id)
            if not others:
                continue
            prompt = grounded_question(question, [texts[cid] for cid in others])
            items.append(_item(prompt, fact.answer, GROUNDED_KIND, fact))
    return items


def allowed_questions(phr: Phrasings) -> list[str]:
    """The fact's training questions, minus the frame its benchmark question (if any) came from."""
    frames = (("front", phr.front), ("insitu", phr.insitu), ("appositive", phr.appositive))
    return [q for name, q in frames if q and name not in phr.withheld]


def _phrasing_items(fact: Fact, phr: Phrasings, questions: list[str]) -> list[TrainExample]:
    """qa and paraphrase items, alternating so that a small budget still gets both kinds."""
    qa = [_item(q, fact.answer, "qa", fact) for q in questions]
    if "complete" not in phr.withheld:
        qa.append(_item(phr.complete, fact.answer, "qa", fact))
    sentence = fact.sentence.strip()
    para = [_item(phr.reverse, sentence, "paraphrase", fact)]
    if questions:
        para.append(_item(f"Answer in a full sentence: {questions[0]}", sentence, "paraphrase", fact))
    out: list[TrainExample] = []
    for i in range(max(len(qa), len(para))):
        out += [*qa[i:i + 1], *para[i:i + 1]]
    return out


def _cloze_items(fact: Fact, count: int, rng: random.Random) -> list[TrainExample]:
    """Sentence prefixes → continuations: first cut before the answer, then random word boundaries."""
    sentence = fact.sentence.strip()
    cuts = [m.start() for m in re.finditer(r" (?=\S)", sentence)]
    chosen: list[int] = []
    if len(fact.prefix.split()) >= 3 and fact.prefix.endswith(" "):
        chosen.append(fact.start - 1)
    others = [c for c in cuts[2:-1] if c not in chosen]
    chosen += rng.sample(others, min(len(others), max(0, count - len(chosen))))
    return [_item(sentence[:cut].strip(), sentence[cut:].strip(), "cloze", fact) for cut in chosen[:count]]


def _item(prompt: str, completion: str, kind: str, fact: Fact) -> TrainExample:
    return TrainExample(prompt, completion, kind, fact.chunk_id)
