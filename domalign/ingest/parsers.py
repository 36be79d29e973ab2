"""Detect an uploaded file's type and extract its text.

Parsing untrusted files is where libraries fail in many ways (zip, XML and
PDF errors alike), so each extractor turns any failure into ``InvalidInput``
that names the file, and ``UnsupportedMedia`` is decided before parsing.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from domalign.errors import InvalidInput, UnsupportedMedia
from domalign.ingest.normalize import normalize_text, reflow_lines, strip_markdown

if TYPE_CHECKING:
    from docx.table import Table

SUPPORTED_TYPES: frozenset[str] = frozenset({"txt", "md", "html", "pdf", "docx"})

_EXTENSIONS = {
    ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md",
    ".htm": "html", ".html": "html", ".pdf": "pdf", ".docx": "docx",
}  # fmt: skip
_CONTENT_TYPES = {
    "text/plain": "txt", "text/markdown": "md", "text/x-markdown": "md", "text/html": "html",
    "application/xhtml+xml": "html", "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}  # fmt: skip
# Binary formats worth naming in the error, so "photo.bin" reads as "png", not "bin".
_OTHER_MAGIC = {
    b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif", b"MZ": "exe",
    b"\x7fELF": "elf", b"\xd0\xcf\x11\xe0": "doc (legacy Office)", b"PK\x03\x04": "zip",
}  # fmt: skip


@dataclass(frozen=True)
class ParsedDocument:
    """A document's detected type and its normalized text."""

    type: str
    text: str


def detect_type(filename: str, content_type: str | None, data: bytes) -> str:
    """Return one of ``SUPPORTED_TYPES``: by extension, then magic bytes, then content type."""
    extension = PurePath(filename).suffix.lower()
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    sniffed = _sniff(data)
    if sniffed in SUPPORTED_TYPES:
        return sniffed
    media = (content_type or "").split(";")[0].strip().lower()
    if sniffed is None and media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    detected = sniffed or extension.lstrip(".") or media or "unknown"
    raise UnsupportedMedia(
        f"file {filename!r} looks like {detected!r}, which domalign cannot read; "
        f"supported types: {', '.join(sorted(SUPPORTED_TYPES))} "
        "(convert it, e.g. save .doc as .docx or export to PDF)"
    )


def _sniff(data: bytes) -> str | None:
    """Name the format from the first bytes, or None when they say nothing."""
    if b"%PDF-" in data[:1024]:  # the spec tolerates junk before the header
        return "pdf"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if data.startswith(b"PK\x03\x04") and _zip_has(data, "word/document.xml"):
        return "docx"
    return next((name for magic, name in _OTHER_MAGIC.items() if data.startswith(magic)), None)


def _zip_has(data: bytes, member: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return member in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def parse_document(filename: str, content_type: str | None, data: bytes) -> ParsedDocument:
    """Detect, extract and normalize; raise ``InvalidInput`` when no text comes out."""
    kind = detect_type(filename, content_type, data)
    text = normalize_text(_EXTRACTORS[kind](filename, data))
    if not text:
        hint = {
            "pdf": "scanned PDFs need OCR first (e.g. ocrmypdf)",
            "docx": "text in images or text boxes is not read",
        }.get(kind, "upload a file that contains text")
        raise InvalidInput(f"file {filename!r} contains no extractable text; {hint}")
    return ParsedDocument(type=kind, text=text)


def _decode_text(filename: str, data: bytes) -> str:
    """Decode UTF-8 or BOM-marked UTF-16/32; else Windows-1252 when the bytes look like text.

    Files called "latin-1" are nearly always Windows-1252 (curly quotes at
    0x91-0x94), so that is tried before latin-1 itself.
    """
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"file {filename!r} starts with a {codec} mark "
                                   f"but is not valid {codec}: {exc.reason}") from exc
    controls = sum(1 for byte in data if byte < 32 and byte not in b"\t\n\r\f") + data.count(127)
    if b"\x00" in data or controls * 10 > len(data):  # text has at most a stray control byte
        raise InvalidInput(f"file {filename!r} is binary, not text; "
                           "save it as UTF-8 text or upload it in its own format")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _extract_md(filename: str, data: bytes) -> str:
    return strip_markdown(_decode_text(filename, data))


_HTML_SPACE = re.compile(r"[ \t\n\r\f\v]+")  # not \s: that would eat U+2028/U+2029
_BLOCK_TAGS = [
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "pre", "blockquote",
    "section", "article", "main", "header", "footer", "aside", "table", "ul", "ol",
    "dl", "dt", "dd", "figure", "figcaption", "address", "hr", "title", "caption",
]  # fmt: skip


def _extract_html(filename: str, data: bytes) -> str:
    """Visible text with block elements as paragraphs and ``<br>`` as line breaks.

    Source whitespace means nothing in HTML, so block and line breaks are
    marked with U+2029/U+2028 (which ``normalize_text`` turns into newlines)
    before all other whitespace is collapsed.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "head", "noscript", "template", "svg"]):
        tag.decompose()
    for pre in soup("pre"):
        for string in pre.find_all(string=True):
            string.replace_with(string.replace("\n", "\u2028"))
    for br in soup("br"):
        br.replace_with("\u2028")
    for tag in soup(_BLOCK_TAGS):
        tag.insert_before("\u2029")
        tag.insert_after("\u2029")
    for cell in soup(["td", "th"]):
        cell.insert_after(" | ")
    return _HTML_SPACE.sub(" ", soup.get_text())


def _extract_pdf(filename: str, data: bytes) -> str:
    """Text of all pages with wrapped lines re-joined; encrypted files need no password."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(f"PDF {filename!r} is password-protected; remove the password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InvalidInput:
        raise
    except Exception as exc:  # pypdf reports damage as many exception types
        raise InvalidInput(f"PDF {filename!r} is damaged or not a PDF ({exc}); "
                           "re-export or re-save it and upload again") from exc
    return reflow_lines("\n".join(pages))


def _extract_docx(filename: str, data: bytes) -> str:
    """Body paragraphs and table rows (cells joined by " | "), in document order."""
    import docx
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx reports damage as zip, XML or key errors
        raise InvalidInput(f"Word file {filename!r} is damaged or not a .docx ({exc}); "
                           "re-save it as .docx and upload again") from exc
    return "\n\n".join(
        item.text if isinstance(item, Paragraph) else "\n".join(_table_rows(item))
        for item in document.iter_inner_content()
    )


def _table_rows(table: Table) -> list[str]:
    """One line per row; a merged cell appears once, not once per grid column it spans."""
    rows = []
    for row in table.rows:
        cells = row.cells
        unique = [c for i, c in enumerate(cells) if i == 0 or c._tc is not cells[i - 1]._tc]
        rows.append(" | ".join(cell.text.strip() for cell in unique))
    return rows


_EXTRACTORS: dict[str, Callable[[str, bytes], str]] = {
    "txt": _decode_text,
    "md": _extract_md,
    "html": _extract_html,
    "pdf": _extract_pdf,
    "docx": _extract_docx,
}
