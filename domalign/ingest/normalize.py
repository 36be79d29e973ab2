"""Text clean-up shared by every parser: unicode, whitespace, markdown, PDF line wraps.

Every function here maps ``str`` to ``str`` and knows nothing about files, so
the parsers stay thin and each rule can be tested on its own.
"""

from __future__ import annotations

import re
import unicodedata

# Typographic variants that only make the same word look different to a tokenizer.
# En-dashes become hyphens ("Navier–Stokes" → "Navier-Stokes", "1990–2000"),
# while the em-dash stays: turning "word—word" into "word-word" would read as a compound.
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′", "'"),
        **dict.fromkeys("“”„‟″", '"'),
        **dict.fromkeys("‐‑‒–−", "-"),
        "―": "—",
        "\t": " ",
        "\r": "\n",
        "\x85": "\n",
        "\v": "\n",
        "\u2028": "\n",
        "\f": "\n\n",
        "\u2029": "\n\n",
        # Invisible characters that split words (soft hyphen, zero-width space,
        # word joiner, stray BOM). ZWJ/ZWNJ are kept: some scripts need them.
        **dict.fromkeys("\u00ad\u200b\u2060\ufeff", None),
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Return ``text`` in NFKC with plain quotes, single spaces and ``\\n\\n`` paragraphs."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n")).translate(_TRANSLATE)
    text = _CONTROL.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# --- markdown ---------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(```|~~~).*$", re.MULTILINE)
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.MULTILINE), repl)
    for pattern, repl in (
        (r"(?s)<!--.*?-->", ""),  # html comments, also over several lines
        (r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", r"\n\1\n"),  # ATX headings become paragraphs
        (r"^(.*\S.*)\n {0,3}(?:=+|-+)[ \t]*$", r"\n\1\n"),  # setext headings too
        (r"^ {0,3}(?:\*{3,}|-{3,}|_{3,})[ \t]*$", ""),  # horizontal rules
        (r"^(?=[^\n]*\|)(?=[^\n]*-)[ \t|:-]+(\n|$)", ""),  # table rulers "|---|:-:|"
        (r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S+.*(\n|$)", ""),  # reference definitions
        (r"^ {0,3}>[ \t]?", ""),  # block quotes
        (r"^([ \t]*)[-*+][ \t]+", r"\1"),  # bullets (numbered items keep their numbers)
        (r"!\[([^\]\n]*)\]\([^)\n]*\)", r"\1"),  # images → alt text
        (r"\[([^\]\n]+)\]\([^)\n]*\)", r"\1"),  # links → link text
        (r"\[([^\]\n]+)\]\[[^\]\n]*\]", r"\1"),  # reference links → link text
        (r"<((?:https?|mailto):[^>\s]+)>", r"\1"),  # autolinks
        (r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2"),  # strong
        (r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1"),  # emphasis with *
        (r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)", r"\1"),  # emphasis with _, not snake_case
        (r"~~(?=\S)(.+?)(?<=\S)~~", r"\1"),  # strikethrough
        (r"`([^`\n]+)`", r"\1"),  # inline code
    )
)


def strip_markdown(text: str) -> str:
    """Drop markdown markup but keep its words; fenced code is kept verbatim as text."""
    parts = _FENCE.split(text)
    # split() with one group yields [prose, fence, code, fence, prose, ...]
    out: list[str] = []
    for i, part in enumerate(parts[::2]):
        if i % 2:
            out.append(f"\n\n{part.strip(chr(10))}\n\n")  # the code block's body, as a paragraph
            continue
        for pattern, repl in _MD_RULES:
            part = pattern.sub(repl, part)
        out.append(part)
    return "".join(out)


# --- PDF line reflow --------------------------------------------------------

_ENDS_SENTENCE = re.compile(r"[.!?:;\"')\]]$")
_HYPHENATED = re.compile(r"[^\W\d_]-$")


def reflow_lines(text: str) -> str:
    """Re-join lines that a PDF wrapped, keeping the paragraph breaks one can infer.

    PDFs store positioned lines, not paragraphs: a line ending in a hyphen
    before a lowercase word is a split word ("knowl-" + "edge"); a short line
    that ends a sentence or precedes a capitalised line ends a paragraph
    (compared with the usual line width); any other line break is a wrap.
    """
    lines = [line.strip() for line in text.split("\n")]
    widths = sorted(len(line) for line in lines if line)
    if not widths:
        return ""
    short = 0.75 * widths[int(0.8 * (len(widths) - 1))]
    out = [lines[0]]
    for prev, line in zip(lines, lines[1:], strict=False):  # prev: the raw line above, not the joined text
        if not line or not prev:
            out.append(line)
        elif _HYPHENATED.search(prev) and line[0].islower():
            out[-1] = out[-1][:-1] + line
        elif len(prev) < short and (_ENDS_SENTENCE.search(prev) or not line[0].islower()):
            out.extend(["", line])
        else:
            out[-1] = f"{out[-1]} {line}"
    return "\n".join(out)
