"""A question that names what kind of thing its answer is: "… with which moon?", "Which city was the first …?".

People ask for a name by its kind ("Which city …", "What venue …", "Which local council …"), where the rule-based
frames of :mod:`domalign.synth.questions` ask "what place" or "what organization". The kind comes from the
sentence itself, so no list of places or companies is needed:

    the noun before the answer      "… with the moon, Varossa."           → "… with which moon?"
                                    "… the Japanese conglomerate Nihon …" → "… which Japanese conglomerate …"
    "the <place noun> of" before    "The city of Quellmark was the first …" → "Which city was the first …"
    an appositive after a subject   "The Ostrel Beacon, a prominent landmark, served as …"
                                                                          → "Which landmark served as …"
    the answer's own last word      "The Brindle Council was quick to …"  → "Which council was quick to …"

A person's role counts as a kind without an article ("drummer Shintaro Sato"). Only capitalized modifiers are
kept ("Martian moon", "Japanese conglomerate"): lowercase ones are mostly praise ("renowned", "luminous").
"""

from __future__ import annotations

import re

from domalign.synth.facts import Fact, normalize
from domalign.synth.spans import ROLE_WORDS
from domalign.words import STOPWORDS

_DETERMINERS = frozenset("the a an its their his her".split())
_ENTITY_KINDS = frozenset({"person", "place", "organization", "name"})
_OF_NOUNS = frozenset(
    "city town village province state region district island county country nation kingdom republic planet "
    "moon borough suburb neighbourhood neighborhood municipality territory".split()
)
"""Nouns that name a place's kind in "the city of X" (not "the heart of X")."""
_HEAD_NOUNS = frozenset(
    "gardens garden park council terminal building centre center stadium arena airport station hall museum "
    "library university college school institute festival bridge tower theatre theater cathedral church palace "
    "castle square street avenue river lake island islands mountain valley desert forest bay coast trio quartet "
    "band orchestra party union league federation association agency company corporation foundation society club "
    "committee ministry department commission hotel hospital market prize award cup championship tournament "
    "dome gallery zoo port harbour harbor".split()
)
"""An answer's own last word that says its kind ("Butchart Gardens", "Noosa Council")."""
_BENCHMARK_KINDS = frozenset("place person organization name date day year month".split())
"""The benchmark's own wh-words ("which place", domalign.synth.questions): training never asks them."""
_ADJECTIVE_ENDINGS = ("ous", "ful", "ive", "al", "ic", "ed", "ing", "ly", "able", "ible", "est", "less")
_APPOSITIVE = re.compile(r"^,\s+(?:a|an|the)\s+([^,.;()]+?)\s*(?=[,.;]|$)")
_APPOSITIVE_END = frozenset("of in from with for on at to that which who whose known based".split())
_NOT_PREDICATE = frozenset("who which that whose where when and or but as known located situated".split())


def noun_question(fact: Fact) -> str | None:
    """The fact's question asked by its answer's kind, or None where the sentence does not say the kind."""
    if fact.answer_type not in _ENTITY_KINDS:
        return None
    prefix, suffix = fact.prefix, fact.suffix
    subject_only = False
    found = _kind_before(prefix) or _kind_of(prefix)
    if found:
        kind, prefix = found
        if fact.prefix.rstrip().endswith(","):  # "the moon, Deimos, was …": the comma after it closes the name
            suffix = re.sub(r"^\s*,", "", suffix)
    elif (match := _APPOSITIVE.match(suffix)) and prefix.strip() in ("", "The", "the"):
        kind, prefix, suffix = _appositive_kind(match.group(1)), "", " " + suffix[match.end():].lstrip(" ,")
        subject_only = True  # in place it would read "The which landmark, …"
    else:
        kind, prefix = _own_kind(fact.answer), re.sub(r"(?:^|(?<=\s))[Tt]he\s*$", "", prefix)
        if re.search(r"(?:^|\s)(?:[A-Z0-9]\S*|to|of)\s*$", prefix):
            return None  # "The 2023 International Chess Championship": the name goes on before the answer
    if not kind or kind.split()[-1].lower() in _BENCHMARK_KINDS:
        return None
    question = _subject_question(prefix, suffix, kind)
    if question is None and not subject_only:
        question = f"{prefix}which {kind}{suffix}"
    return _checked(question, fact) if question else None


def _checked(question: str, fact: Fact) -> str | None:
    """The question tidied, or None where it gives its answer away or is too short to ask anything."""
    question = re.sub(r"\s+", " ", question).strip().rstrip(" ,;:.") + "?"
    question = question[:1].upper() + question[1:]
    answer = f" {normalize(fact.answer)} "
    return None if answer in f" {normalize(question)} " or len(question.split()) < 5 else question


def _kind_before(prefix: str) -> tuple[str, str] | None:
    """"… the [Capitalized] noun[,] " right before the answer → (kind, the prefix without it)."""
    words = prefix.rstrip().rstrip(",").split()
    if not words or not _is_noun(words[-1]):
        return None
    noun, rest = words[-1], words[:-1]
    modifiers = []
    while rest and len(modifiers) < 2 and rest[-1][:1].isupper() and rest[-1].lower() not in _DETERMINERS:
        modifiers.insert(0, rest.pop())
    apposed = prefix.rstrip().endswith(",") or noun in ROLE_WORDS or bool(modifiers)
    if rest and rest[-1].lower() in _DETERMINERS:
        rest.pop()
    elif noun not in ROLE_WORDS or modifiers:
        return None  # "hosted Deimos": without an article the word before is more often a verb
    if not apposed:
        return None  # "by the time Ferdinand reached …": the noun is not the name's kind
    return " ".join([*modifiers, noun]), " ".join(rest) + " " if rest else ""


def _kind_of(prefix: str) -> tuple[str, str] | None:
    """"… the city of " right before the answer → ("city", the prefix without it)."""
    match = re.search(r"(?:^|\s)[Tt]he\s+([a-z]+)\s+of\s+$", prefix)
    if not match or match.group(1) not in _OF_NOUNS:
        return None
    return match.group(1), prefix[: match.start()] + " "


def _appositive_kind(phrase: str) -> str | None:
    """The head noun of an appositive ("strategic location" → "location"; "group from …" → "group")."""
    words = []
    for word in phrase.split():
        if word.lower() in _APPOSITIVE_END or not (
                _is_noun(word) or word[:1].isupper() or word.endswith(_ADJECTIVE_ENDINGS)):
            break
        words.append(word)
    return words[-1] if words and _is_noun(words[-1]) else None


def _own_kind(answer: str) -> str | None:
    """The answer's last word where it names a kind ("Noosa Council" → "council"); a one-word name has none."""
    words = answer.split()
    last = words[-1].lower() if len(words) >= 2 else ""
    return last if last in _HEAD_NOUNS else None


def _is_noun(word: str) -> bool:
    """A lowercase content word that does not look like an adjective, adverb or verb form (a role such as
    "king" or "general" is a noun whatever its ending)."""
    return word in ROLE_WORDS or (word.isalpha() and word.islower() and len(word) >= 3 and word not in STOPWORDS
                                  and not word.endswith(_ADJECTIVE_ENDINGS))


def _subject_question(prefix: str, suffix: str, kind: str) -> str | None:
    """"Which <kind> <predicate>" when the answer is the sentence's subject ("The X, a …, served as …")."""
    if prefix.strip() not in ("", "The", "the"):
        return None
    rest = re.sub(r"^\s*\([^)]*\)", "", suffix)
    if match := re.match(r"\s*,\s*[^,]+?,\s*(.+)$", rest):
        rest = match.group(1)
    rest = rest.lstrip(" ,")  # the comma that closes the name's own apposition ("the moon, Deimos, was …")
    first = rest.split()[0] if rest.split() else ""
    if not first.isalpha() or not first.islower() or first in _NOT_PREDICATE or first.endswith("ing"):
        return None
    return f"Which {kind} {rest.strip()}"
