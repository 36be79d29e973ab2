"""Ingest stage: uploaded bytes → normalized text → chunks with stable ids.

    parse_document(filename, content_type, data) -> ParsedDocument   # detect, extract, normalize
    chunk_text(document_id, text) -> list[Chunk]                     # paragraph/sentence chunks
    split_sentences(text) -> list[str]                               # shared with synthesis

Unknown file types raise ``UnsupportedMedia``; damaged or text-less files
raise ``InvalidInput``. Heavy parsers (pypdf, python-docx, bs4) are imported
only when a file of their type arrives.
"""

from domalign.ingest.chunking import chunk_text, split_sentences
from domalign.ingest.normalize import normalize_text
from domalign.ingest.parsers import (
    SUPPORTED_TYPES,
    ParsedDocument,
    detect_type,
    parse_document,
)

__all__ = [
    "SUPPORTED_TYPES",
    "ParsedDocument",
    "chunk_text",
    "detect_type",
    "normalize_text",
    "parse_document",
    "split_sentences",
]
