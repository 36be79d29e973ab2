"""Question phrasings of one fact, by rule: a training family and a benchmark family.

Training phrasings keep the whole sentence as context:

    front       "When was the fortieth government of Mars, ... officially constituted, following ...?"
    insitu      "The fortieth government of Mars ... was officially constituted on what date, following ...?"
    complete    "Complete: The fortieth government of Mars ... constituted on ___, following ..."
    appositive  "Who is a renowned Martian statesman?"          (names followed by ", a ...,")
    reverse     "What happened on 5 Outcrop 6678?"              (answered by the whole sentence)
    noun        "... initiative with which moon?"               (the answer's kind, where the sentence says it)

The benchmark phrasing is *clause-trimmed*: asides (", or the Zorgon–Calidus
government,", parentheses), "-ly" adverbs and everything after the answer's
clause are cut, and the wh-words come from a separate table ("On which date
was the fortieth government of Mars constituted?"). Training never trims, so no
training item carries a benchmark question; for a benchmark fact the training
frame the question was built from is withheld (``Phrasings.withheld``) and the
fact is taught through the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domalign.synth.facts import Fact, normalize
from domalign.synth.noun_questions import noun_question
from domalign.synth.spans import ROLE_WORDS

_ADVERB = re.compile(
    r"(?<![\w-])(?!(?:only|early|family|daily|weekly|monthly|yearly|likely|july|italy|supply|apply|reply|rally|"
    r"holy|ugly|belly|jelly|lily|ally|assembly|anomaly|friendly|elderly|lovely|costly|deadly|lonely|"
    r"timely|orderly|curly|hilly|silly|manly|homely|scholarly|leisurely|kindly|lively|unlikely|"
    r"nearly|partly|mostly)\b)[a-z]{3,}ly\b(?![-\w])"
)
_AUX = re.compile(r"\s(was|were|is|are|has been|have been|had been|will be)\s")
_LOWER_FIRST = frozenset("The A An This These Those Its Their His Her".split())
_OPENERS = frozenset(
    "In On At During After Before By For From With Under Over Since Despite Though Although While When "
    "As Unlike Following According Each Every However Meanwhile Hence Thus Yet Also".split()
)
_DROP_PREPS = frozenset({"on", "in", "at", "during", "by"})
_STOP_NEXT = frozenset("of and or to in on at by for from with the a an as than".split())
_ASIDE_WORDS = frozenset(
    "a an the or which who whose where when on in at with by after before during under despite for from as "
    "like unlike including among via per also however though although once".split()
)
_WH_WORDS = frozenset("what which who whom whose where when why how".split())
_NOT_VERBS = frozenset(
    "who which that whose where when known located situated based named called and or but as".split()
)
_APPOSITIVE_PREPS = frozenset("on in at with by after before despite during for from under over as".split())

_TIME_PREPS = {"on", "in", "at", "during", "by", "since", "until", "from", "before", "after"}
_AGENT_PREPS = {"by", "with", "for", "to", "from", "under"}
_FRONT_PREPS = {"date": _TIME_PREPS, "year": _TIME_PREPS, "place": {"in", "at", "from", "near", "to", "across"},
                "person": _AGENT_PREPS, "organization": _AGENT_PREPS, "name": set()}
_TRAIN_WH = {"date": "when", "year": "when", "person": "who", "place": "where",
             "organization": "what organization", "name": "what"}
_BENCH_WH = {"date": "which date", "year": "which year", "person": "which person", "place": "which place",
             "organization": "which organization", "name": "which name"}
_TRAIN_INSITU = {"date": "what date", "year": "what year", "person": "who", "place": "what place",
                 "organization": "what organization", "name": "what"}
_BENCH_INSITU = {"date": "which day", "year": "which year", "person": "which person", "place": "which place",
                 "organization": "which organization", "name": "which name"}
_TRAIN_SUBJECT = {"person": "Who", "place": "What place", "organization": "What organization", "name": "What"}
_BENCH_SUBJECT = {"person": "Which person", "place": "Which place", "organization": "Which organization",
                  "name": "Who or what"}
# Training frames left out for a fact whose benchmark question was built from ``frame``.
_WITHHELD = {"front": frozenset({"front"}), "subject": frozenset({"front", "insitu"}),
             "insitu": frozenset({"insitu"}), "gap": frozenset({"insitu", "complete"})}
_REVERSE = {"date": "What happened on {a}?", "year": "What happened in {a}?",
            "number": "What does the figure {a} refer to?"}


@dataclass(frozen=True)
class Phrasings:
    """Every question form of one fact; a frame is None where the sentence does not allow it."""

    front: str | None
    insitu: str | None
    complete: str
    appositive: str | None
    reverse: str
    bench: str | None
    bench_frame: str
    withheld: frozenset[str]
    noun: str | None = None  # the question by the answer's kind (domalign.synth.noun_questions)


def phrase(fact: Fact) -> Phrasings:
    """Build the training phrasings and the (trimmed) benchmark question of ``fact``."""
    lead = fact.prefix.strip()
    appositive = None
    if (lead in ("", "The", "the") or lead.lower() in ROLE_WORDS) and fact.answer_type in _TRAIN_SUBJECT:
        front, insitu, appositive, bench = _subject_frames(fact)
        frame = "subject"
    else:
        front, bench_front = _front_frames(fact)
        insitu, bench_insitu = _insitu_frames(fact)
        frame = "front" if bench_front else "gap" if fact.answer_type == "ordinal" else "insitu"
        bench = bench_front or bench_insitu
    complete = _clean(f"Complete: {fact.prefix}___{fact.suffix}") + "."
    bench = _without_adverbs(bench) if bench else None
    if bench and not _usable_question(bench, fact.answer):
        bench = None
    return Phrasings(front, insitu, complete, appositive, _reverse(fact), bench, frame, _WITHHELD[frame],
                     noun_question(fact))


def _reverse(fact: Fact) -> str:
    """A question the whole sentence answers, asked from the answer's side."""
    if fact.answer_type == "ordinal":
        noun = fact.suffix.split()[:1]
        about = f"the {fact.answer} {noun[0]}" if noun and noun[0].isalpha() else f"the {fact.answer}"
        return f"What do the documents say about {about}?"
    return _REVERSE.get(fact.answer_type, "What do the documents say about {a}?").format(a=fact.answer)


def _without_adverbs(question: str) -> str:
    """Drop "-ly" adverbs ("was officially constituted" → "was constituted"): the benchmark's rewording."""
    return _clean(_ADVERB.sub("", question))


def _usable_question(question: str, answer: str) -> bool:
    """A benchmark question of sane length that neither quotes nor gives away its answer."""
    words = len(question.split())
    return 6 <= words <= 40 and not re.search(r"[\"“”]", question) and not _contains(question, answer)


def _contains(text: str, answer: str) -> bool:
    """Whether ``answer``'s words occur, in order and adjacent, among ``text``'s words."""
    return f" {normalize(answer)} " in f" {normalize(text)} "


def _subject_frames(fact: Fact) -> tuple[str | None, str | None, str | None, str | None]:
    """Frames of a fact whose answer is the sentence's subject ("Knut Klo, a ..., started ...")."""
    rest = fact.suffix
    kind = fact.answer_type
    if rest.startswith(("'", "’")):
        return None, (_question("Whose" + re.sub(r"^['’]s?", "", rest)) if kind == "person" else None), None, None
    rest = re.sub(r"^\s*\([^)]*\)", "", rest)
    match = re.match(r"\s*,\s*([^,]+?),\s*(.+)$", rest)
    appos, predicate = (match.group(1), match.group(2)) if match else (None, rest.strip())
    first = predicate.split()[0] if predicate.split() else ""
    if not first[:1].islower() or first in _NOT_VERBS | _ASIDE_WORDS or first.endswith("ing"):
        return None, None, None, None  # "Tokyo, ..., who was ...", "Fedoria, known for ..."
    insitu = _question(_TRAIN_SUBJECT[kind] + rest)
    front = _question(f"{_TRAIN_SUBJECT[kind]} {predicate}") if appos else None
    appositive = None
    if appos and appos.split()[0].lower() not in _APPOSITIVE_PREPS:
        appositive = _question(f"{_TRAIN_SUBJECT[kind]} is {appos}")
    clause = re.split(r",|;| - | – ", predicate)[0]
    bench = _question(f"{_BENCH_SUBJECT[kind]} {clause}") if len(clause.split()) >= 3 else None
    return front, insitu, appositive, bench


def _front_frames(fact: Fact) -> tuple[str | None, str | None]:
    """Wh-fronted questions ("When was X constituted?"): training keeps the asides, benchmark drops them."""
    kind = fact.answer_type
    match = _AUX.search(fact.prefix)
    if kind not in _TRAIN_WH or match is None or fact.prefix.endswith(", ") or fact.suffix.startswith(("'", "’")):
        return None, None
    subject = fact.prefix[: match.start()].strip()
    aux, *more = match.group(1).split()
    predicate = " ".join([*more, fact.prefix[match.end():]]).strip()
    core_subject, core_predicate = _drop_asides(subject), _drop_asides(predicate)
    if "," in core_subject or not 1 <= len(core_subject.split()) <= 8 or len(core_predicate.split()) > 14:
        return None, None
    head = core_subject.split()[0]
    if head in _OPENERS or head.endswith("ing") or "," in core_predicate or _WH_WORDS & set(predicate.split()):
        return None, None  # "Rounding out the band is ...", "... excited for what the 2024 ..."
    prep, predicate = _split_prep(predicate)
    _, core_predicate = _split_prep(core_predicate)
    if prep and prep not in _FRONT_PREPS[kind]:
        return None, None
    if not prep or (prep in _DROP_PREPS and kind in ("date", "year", "place")):
        train_wh = _TRAIN_WH[kind]
    else:
        train_wh = f"{prep} {'whom' if kind == 'person' else _TRAIN_INSITU[kind]}"
    bench_wh = f"{prep} {_BENCH_WH[kind]}" if prep else _BENCH_WH[kind]
    if kind == "date" and prep == "in":
        bench_wh = "in which month"  # "in February 2030"
    train = _question(f"{_cap(train_wh)} {aux} {_lower(subject)} {predicate}{fact.suffix}")
    bench = _question(f"{_cap(bench_wh)} {aux} {_lower(core_subject)} {core_predicate}")
    return train, bench


def _insitu_frames(fact: Fact) -> tuple[str | None, str | None]:
    """The answer replaced in place by a wh-phrase; the benchmark form is trimmed to the answer's clause."""
    kind, prefix, suffix = fact.answer_type, fact.prefix, fact.suffix
    if suffix.startswith(("'", "’")):
        if kind != "person":
            return None, None
        train_wh, bench_wh, suffix = "whose", "which person's", re.sub(r"^['’]s?", "", suffix)
    elif kind == "ordinal":
        train = _clean(f"Fill in the ordinal: {prefix}___{suffix}") + "."
        return train, _question(f"Which ordinal belongs in the gap: {_trimmed(prefix, '___', suffix)}")
    elif kind == "number":
        train_wh = bench_wh = _number_wh(fact)
    else:
        train_wh, bench_wh = _TRAIN_INSITU[kind], _BENCH_INSITU[kind]
        if kind == "person" and prefix.rstrip().split()[-1:] and prefix.rstrip().split()[-1] in _DROP_PREPS:
            train_wh = "whom"
    while prefix.split() and prefix.split()[-1].lower() in ROLE_WORDS | {"the", "a", "an"}:
        prefix = prefix[: prefix.rstrip().rfind(" ") + 1]  # "by cellist ___" → "by which person"
    train = _question(_cap(f"{prefix}{train_wh}{suffix}"))
    return train, _question(_cap(_trimmed(prefix, bench_wh, suffix)))


def _number_wh(fact: Fact) -> str:
    """"how many" before a counted noun, "what percentage" for percents, else "what number"."""
    if fact.answer.endswith(("%", "cent")):
        return "what percentage"
    following = re.match(r"\s*([a-z]+)\b", fact.suffix)
    if following and following.group(1) not in _STOP_NEXT:
        return "how many"
    return "what number"


def _trimmed(prefix: str, wh: str, suffix: str) -> str:
    """The answer's clause with ``wh`` in the answer's place, asides dropped.

    An answer inside an adverbial aside is moved to the end of its main clause:
    "Mars, on 13 Amazonis 6678, saw a shift." → "Mars saw a shift on which day".
    """
    opened = prefix.rfind(",")
    intro = prefix[:opened].strip().split()
    if opened > 0 and prefix.count(",") % 2 == 1 and "," in suffix and not _is_intro(intro):
        head, lead = _drop_asides(prefix[:opened]), prefix[opened + 1:].strip()
        tail, _, rest = suffix.partition(",")
        first = lead.split()[0].lower() if lead else ""
        if first in _APPOSITIVE_PREPS | _TIME_PREPS:
            return _clean(f"{head} {_clause(_drop_asides(rest))} {lead} {wh}{tail}")
        if first in ("the", "a", "an"):
            return _clean(f"{head} is {lead} {wh}{tail}")
        return _clean(f"{prefix}{wh}{tail}") if not lead else ""  # "X, inflicted by ___, ...": no clean cut
    if suffix.startswith(","):
        inner, closed, after = suffix[1:].partition(",")
        if _is_aside(inner, strict=True):
            right = _clause(_drop_asides(after)) if closed else ""
        else:
            right = _clause(inner)  # "on 22 Amazonis, successfully passed ..." goes on
    else:
        right = _clause(_drop_asides(suffix))
    if right[:1].isalnum():
        right = " " + right
    return _clean(f"{_drop_asides(prefix)} {wh}{right}")


def _is_intro(words: list[str]) -> bool:
    """Words before a comma that open the sentence rather than name its subject ("Fascinatingly,")."""
    return (len(words) == 1 and words[0].endswith("ly")) or (bool(words) and words[0] in _OPENERS)


def _clause(text: str) -> str:
    """``text`` up to the end of its first clause."""
    return re.split(r",|;| - | – |\(", text)[0].rstrip()


def _drop_asides(text: str) -> str:
    """Remove parentheses and comma-delimited asides: "X, or Y, was" → "X was"."""
    text = re.sub(r"\s*\([^)]*\)", "", text)
    text = re.sub(r",([^,]*),", lambda m: " " if _is_aside(m.group(1)) else m.group(0), text)
    return _clean(text)


def _is_aside(text: str, strict: bool = False) -> bool:
    """Whether a comma-delimited segment reads as an aside ("or the X", "known for ...", "on 5 May").

    ``strict`` leaves out adverbs and past forms, which after a comma often go on with the clause
    ("X on 5 May, successfully passed ...").
    """
    first = text.split()[0].lower() if text.split() else ""
    loose = () if strict else ("ly", "ed")
    return first in _ASIDE_WORDS or first.endswith(("ing", *loose)) or first in ("known", "renowned")


def _split_prep(predicate: str) -> tuple[str, str]:
    """Split a stranded preposition (and determiner) off the end: "held at the" → ("at", "held")."""
    words = predicate.split()
    while words and words[-1].lower() in ROLE_WORDS | {"the", "a", "an"}:
        words = words[:-1]  # "founded by cellist", "held at the"
    if words and words[-1].lower() in _DROP_PREPS | _APPOSITIVE_PREPS | {"to", "of", "into", "across"}:
        return words[-1].lower(), " ".join(words[:-1])
    return "", " ".join(words)


def _lower(subject: str) -> str:
    first, _, rest = subject.partition(" ")
    return f"{first.lower()} {rest}".strip() if first in _LOWER_FIRST else subject


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clean(text: str) -> str:
    """Collapse spaces, remove spaces before punctuation and stray trailing commas."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:?!)])", r"\1", text)
    return text.rstrip(" ,;:–-")


def _question(text: str) -> str:
    return _cap(_clean(text).rstrip(".")) + "?"
