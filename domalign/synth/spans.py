"""Typed answer spans inside one sentence, found by rules (no model, no data files).

    find_spans(sentence) -> list[Span]   # non-overlapping, in priority order

Answer types, in the order a sentence's spans are preferred:

    date      "5 May 2023", "May 1, 2023", "1 to 5 May 2023", "on 22 Amazonis"
    year      "in 1980", "2045–46"
    number    "50", "3.5%", "twenty-five", "five"  (not "one": too often "one of")
    ordinal   "95th", "fortieth", "second"
    person    a name with a role word near it ("mayor Karl Gustav", "Karl Gustav, the mayor")
    place     a name with a place word ("Malm Town", "Baltic Sea") or after in/at/near/from
    organization  a name with an organisation word ("Galaxy Music Syndicate", "Draco Drink Co.")
    name      any other proper name (capitalised words not at sentence start, or a
              multiword or comma-followed name at sentence start)

Names are typed from their own sentence; ``facts`` re-types each name by a
corpus-wide majority vote so that distractors of "the same type" agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSWER_TYPES = ("date", "year", "number", "ordinal", "person", "place", "organization", "name")
ENTITY_TYPES = frozenset({"person", "place", "organization", "name"})
WEAK_PLACE = "place?"  # a place only by its preposition; ``facts`` settles it by vote

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_UNITS = "two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORD_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth "
    "fiftieth sixtieth seventieth eightieth ninetieth hundredth"
).split()
_NUM_WORD = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[-‐](?:one|{'|'.join(_UNITS)}))?|{'|'.join(_TEENS)}|{'|'.join(_UNITS)}"
    r")"
)
_FUNCTION = (
    r"(?:by|and|or|the|a|an|when|with|to|at|on|as|after|before|for|from|in|of|until|while|but|that|which|"
    r"where|during|under|following|was|were|is|are|had|has|saw|became)"
)
_SCALE = r"(?:\s+(?:hundred|thousand|million|billion|trillion))?"

# (type, pattern); group "a" (when present) is the answer inside the match.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("date", rf"\b{_DAY}(?:\s*(?:to|–|-|and)\s*{_DAY})?\s+(?:of\s+)?[A-Z][a-z]+,?\s+\d{{3,4}}\b"),
        ("date", rf"\b{_MONTH}\s+{_DAY}(?:\s*[–-]\s*{_DAY})?,?\s+\d{{4}}\b"),
        ("date", rf"\b{_MONTH}\s+\d{{4}}\b"),
        ("date", rf"\b{_DAY}\s+{_MONTH}\b|\b{_MONTH}\s+{_DAY}\b(?![\d,])"),
        ("date", r"\bon\s+(?P<a>\d{1,2}\s+[A-Z][a-z]+)\b"),
        ("year", r"\b\d{4}\s*[–-]\s*\d{2,4}\b"),
        ("year", r"\b(?:[Ii]n|since|by|until|till|from|of|during|before|after|around|circa)\s+"
                 r"(?:the\s+(?:year|cycle)\s+)?(?P<a>\d{4})\b(?![\d–-]|\s+(?!" + _FUNCTION + r"\b)[a-z])"),
        ("ordinal", r"(?<![\w-])\d+(?:st|nd|rd|th)\b(?!-)"),
        ("ordinal", rf"(?<![\w-])(?:(?:{'|'.join(_TENS)})[-‐])?(?:{'|'.join(_ORD_WORDS)})\b(?![-‐])"),
        ("number", r"(?<![\w.,/–-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?" + _SCALE
                   + r"(?:\s?%|\s+per\s?cent\b)?(?![\w/–]|-\d|[.,]\d)"),
        ("number", rf"(?<![\w-])(?i:{_NUM_WORD}){_SCALE}\b(?![-‐])"),
    )
)

_ABBREV = frozenset({"Co.", "Inc.", "Ltd.", "Corp.", "Jr.", "Sr.", "St.", "Dr.", "Mr.", "Mrs.", "Ms.", "Mt."})
_TOKEN = re.compile(r"[\w][\w’'&.–-]*")
_CONNECTORS = frozenset({"of", "de", "del", "da", "du", "van", "von", "la", "le", "der", "&"})
_STOP_CAPS = frozenset(
    "The A An This That These Those Its It His Her Their Our My Your We They He She I In On At By For "
    "From To With Without During After Before Since Until While When Where Although Though Despite "
    "However Meanwhile Hence Thus Therefore Yet Still Also Moreover Furthermore Nevertheless Nonetheless "
    "Indeed Instead Otherwise Today Later Then Now Here There Again Finally Each Every Some Many Most "
    "Such Both All Only Everyone Several As If But And Or Not No Under Over Through Within Among "
    "Following According Once Unlike Like Among Upon Throughout Beyond Between Against Toward Towards Behind "
    "Above Below Near Inside Outside Around Along Across Amid Amidst Beside Besides Via Per Known "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
    "August September October November December".split()
)
ROLE_WORDS = frozenset(
    "mayor coach player president minister king queen prince princess detective investigator composer "
    "author writer singer actor actress director founder leader captain chairman chairwoman ceo professor "
    "doctor sir lord lady grandmaster goalie general senator governor emperor empress artist scientist poet "
    "painter architect statesman politician premier chancellor creator inventor explorer engineer "
    "philosopher journalist producer musician athlete champion owner manager chief commander pilot "
    "astronaut researcher historian economist teacher student son daughter father mother wife husband "
    "brother sister guitarist drummer vocalist dancer novelist footballer striker midfielder defender frontman "
    "bassist keyboardist commissioner secretary spokesperson spokesman chair deputy ambassador cellist violinist "
    "pianist organist conductor soprano tenor baritone harpist saxophonist trumpeter flautist percussionist "
    "rapper chef lawyer judge surgeon physician biologist chemist physicist mathematician astronomer geologist "
    "botanist sculptor photographer filmmaker editor publisher entrepreneur businessman businesswoman investor "
    "banker diplomat activist priest bishop sultan duke duchess countess baron earl admiral colonel lieutenant "
    "sheriff inspector engineer".split()
)
_PERSON_TITLES = frozenset(
    "King Queen Prince Princess Sir Lord Lady Dr. Mr. Mrs. Ms. President General Captain Saint".split()
)
_ORG_WORDS = frozenset(
    "University Institute College School Academy Company Co. Corporation Corp. Inc. Ltd Ltd. Group "
    "Federation Association Council Syndicate Agency Bank Party Club Committee Ministry Department Society "
    "Foundation League Union Organization Organisation Commission Board Authority Motors Airlines Records "
    "Studios Press Network Industries Enterprises Holdings Labs Laboratories Orchestra Trio Quartet Band "
    "Navy Army Parliament Senate Court Church Order Guild Alliance Consortium Institute Times Inc Office Bureau "
    "Service Services Agency Trust Fund Institution Council Cooperative".split()
)
_PLACE_WORDS = frozenset(
    "City Town Village County Province State Republic Kingdom Empire Island Islands Sea Ocean River Lake "
    "Mountain Mountains Mount Mt. Valley Desert Forest Bay Gulf Coast Peninsula Nebula Galaxy Street Avenue "
    "Square Park Palace Castle Centre Center Hall Stadium Arena Airport Station Harbor Harbour Region "
    "District Hills Canyon Plains Strait Cape Port Shire Land Lands Planet Moon Territory".split()
)
_PLACE_PREPS = frozenset({"in", "at", "near", "from", "across", "throughout"})
_PLACE_FIRST = frozenset({"Mount", "Mt.", "Lake", "Port", "Cape", "Fort", "Isle", "Gulf", "Bay"})
_PERSON_PRONOUNS = re.compile(r"\b(?:he|his|him|she|her|hers|himself|herself)\b")
_ADJ_ENDINGS = ("ian", "ean", "ese", "ish", "ic", "an", "i")
_DIRECTIONS = frozenset({"Northern", "Southern", "Eastern", "Western", "Central", "North", "South", "East", "West"})


@dataclass(frozen=True)
class Span:
    """An answer candidate: ``sentence[start:end] == text``."""

    start: int
    end: int
    text: str
    type: str


def find_spans(sentence: str) -> list[Span]:
    """Return the typed answer spans of ``sentence``: no two overlap; dates first, names last."""
    chosen: list[Span] = []
    for span in [*_pattern_spans(sentence), *_name_spans(sentence)]:
        if all(span.end <= other.start or span.start >= other.end for other in chosen):
            chosen.append(span)
    return chosen


def _pattern_spans(sentence: str) -> list[Span]:
    """Dates, years, ordinals and numbers, in pattern order (earlier patterns win overlaps)."""
    spans: list[Span] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(sentence):
            group = "a" if "a" in pattern.groupindex and match.group("a") else 0
            start, end = match.span(group)
            text = sentence[start:end]
            if kind == "number" and _is_ordinary_number(sentence, start, end):
                continue
            spans.append(Span(start, end, text, kind))
    return spans


def _is_ordinary_number(sentence: str, start: int, end: int) -> bool:
    """Numbers that are not facts: list markers, part of a name ("the 2023 Chess Cup"), bare years."""
    following = sentence[end:].lstrip(" ")
    if start == 0 and following[:1] in (".", ")"):
        return True
    if following[:1].isupper():
        return True
    text = sentence[start:end]
    counted = re.match(r"[a-z]+", following)
    return text.isdigit() and len(text) == 4 and not (counted and not re.fullmatch(_FUNCTION, counted.group()))


def _tokens(sentence: str) -> list[tuple[int, int, str]]:
    """Word tokens with offsets; a trailing possessive or non-abbreviation dot is cut off."""
    out = []
    for match in _TOKEN.finditer(sentence):
        start, end, text = match.start(), match.end(), match.group()
        for tail in ("’s", "'s", "’", "'"):
            if text.endswith(tail) and len(text) > len(tail):
                text, end = text[: -len(tail)], end - len(tail)
                break
        while text.endswith(".") and text not in _ABBREV:
            text, end = text[:-1], end - 1
        while text and text[-1] in "–-":
            text, end = text[:-1], end - 1
        if text:
            out.append((start, end, text))
    return out


def _name_spans(sentence: str) -> list[Span]:
    """Runs of capitalised tokens (joined by "of", "de", ...) that look like proper names."""
    tokens = _tokens(sentence)
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        if not _is_cap(tokens[i][2]):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _joined(sentence, tokens[j], tokens[j + 1]):
            if _is_cap(tokens[j + 1][2]):
                j += 1
            elif tokens[j + 1][2] in _CONNECTORS and j + 2 < len(tokens) and _is_cap(tokens[j + 2][2]) \
                    and _joined(sentence, tokens[j + 1], tokens[j + 2]):
                j += 2
            else:
                break
        span = _accept_name(sentence, tokens, i, j)
        if span is not None:
            spans.append(span)
        i = j + 1
    return spans


def _is_cap(word: str) -> bool:
    """A capitalised word; "Calidus-led" is an adjective, not a name."""
    return word[0].isupper() and not re.search(r"[–-][a-z]", word)


def _joined(sentence: str, left: tuple[int, int, str], right: tuple[int, int, str]) -> bool:
    """Two tokens belong to one name only when a single space separates them."""
    return sentence[left[1]:right[0]] == " "


def _accept_name(sentence: str, tokens: list, i: int, j: int) -> Span | None:
    """Trim function words and adjectives off tokens[i..j]; None when no name is left."""
    at_start = sentence[: tokens[i][0]].strip(" \"'“‘(") == ""
    while i <= j and tokens[i][2] in _STOP_CAPS:
        i += 1
    for k in range(j - 1, i - 1, -1):  # "CEO of Emerald Air", "Commissioner Frans Timmermans"
        if tokens[k][2].lower() in ROLE_WORDS and tokens[k][2] not in _PERSON_TITLES:
            i = k + 1
            while i <= j and tokens[i][2] in _CONNECTORS:
                i += 1
            break
    if i > j:
        return None
    if i > j:
        return None
    following = sentence[tokens[j][1]:].lstrip(" ")
    if following[:1].isdigit():
        return None  # "Level 5", "Category 5": a designation, not a name
    next_lower = bool(re.match(r"[a-z]", following))
    words = [t[2] for t in tokens[i:j + 1] if t[2] not in _CONNECTORS]
    if all(w.endswith(_ADJ_ENDINGS) or w in _DIRECTIONS for w in words) and next_lower:
        return None  # "Canadian mystery", "Central European governments"
    lone_opener = not following.startswith((",", "(", "’s", "'s")) or words[0].endswith(("ly", "ing"))
    if at_start and len(words) == 1 and lone_opener:
        return None  # "Lastly,", "Developing at ..."
    if len(words) == 1 and words[0] in _STOP_CAPS:
        return None
    start, end = tokens[i][0], tokens[j][1]
    text = sentence[start:end]
    return Span(start, end, text, classify_name(sentence, start, end))


def classify_name(sentence: str, start: int, end: int) -> str:
    """Type a name by its own words and its neighbours in the sentence."""
    words = sentence[start:end].split()
    before = sentence[:start].split()
    prev = before[-1].lower().strip(",(") if before else ""
    prev2 = before[-2].lower().strip(",(") if len(before) > 1 else ""
    after = sentence[end:]
    appositive = re.match(r"\s*,\s*(?:a|an|the)\s+([^,]{0,80})", after)
    if words[0] in _PERSON_TITLES or prev in ROLE_WORDS or (prev2 in ROLE_WORDS and prev == "the"):
        return "person"
    described = appositive or re.match(r"\s+(?:is|was)\s+(?:a|an|the)\s+([^,.]{0,60})", after)
    if described and ROLE_WORDS & set(re.findall(r"[a-z]+", described.group(1))):
        return "person"
    if not before and _PERSON_PRONOUNS.search(after) and len(words) <= 3:
        return "person"  # "Hayden Smith, renowned for his ..."
    if any(w in _ORG_WORDS for w in words):
        return "organization"
    if words[-1] in _PLACE_WORDS or words[0] in _PLACE_FIRST:
        return "place"
    if prev in _PLACE_PREPS | {"of"} and re.match(r",\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\s*[,.](?!\s*and\b)", after):
        return "place"  # "in Johannesburg, South Africa"
    if (prev in _PLACE_PREPS or (prev == "the" and prev2 in _PLACE_PREPS)) and not after.startswith(("'", "’")):
        return WEAK_PLACE  # "from Tokyo": often a place, sometimes a company or a person
    return "name"
