"""Ingest stage: real files built in the test, parsed, normalized and chunked."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from domalign.errors import InvalidInput, UnsupportedMedia
from domalign.ingest import (
    SUPPORTED_TYPES,
    ParsedDocument,
    chunk_text,
    detect_type,
    normalize_text,
    parse_document,
    split_sentences,
)

# --- builders for real files --------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A real PDF with one Helvetica text line per entry, built with pypdf."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.add_paragraph("After the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- type detection -------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("a.txt", "txt"), ("a.TEXT", "txt"), ("a.md", "md"), ("a.markdown", "md"),
     ("a.htm", "html"), ("a.HTML", "html"), ("a.pdf", "pdf"), ("a.docx", "docx")],
)  # fmt: skip
def test_detect_type_by_extension(filename: str, expected: str) -> None:
    assert detect_type(filename, "application/octet-stream", b"whatever") == expected
    assert expected in SUPPORTED_TYPES


def test_detect_type_falls_back_to_magic_bytes_then_content_type() -> None:
    assert detect_type("upload", None, make_pdf([["Hi."]])) == "pdf"
    assert detect_type("upload.bin", None, make_docx(["Hi."])) == "docx"
    assert detect_type("page", None, b"  <!DOCTYPE html><p>x</p>") == "html"
    assert detect_type("notes", "text/markdown; charset=utf-8", b"# x") == "md"
    assert detect_type("notes", "text/plain", b"x") == "txt"


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "detected"),
    [
        ("setup.exe", "application/octet-stream", b"MZ\x90\x00binary", "exe"),
        ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n....", "png"),
        ("old.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "doc"),
        ("data.zip", "text/plain", b"PK\x03\x04" + b"\x00" * 30, "zip"),
        ("sheet.csv", None, b"a,b\n1,2\n", "csv"),
    ],
)
def test_detect_type_rejects_unsupported(filename, content_type, data, detected) -> None:
    with pytest.raises(UnsupportedMedia) as info:
        detect_type(filename, content_type, data)
    message = info.value.message
    assert filename in message and detected in message
    assert "docx, html, md, pdf, txt" in message


# --- normalization ----------------------------------------------------------------


def test_normalize_text() -> None:
    raw = (
        "“Quoted” ‘x’ – the Navier–Stokes\u00a0eq. — ok\u00ad\tA  \x07B ﬁne\r\n"
        "\r\n\r\n\r\nNext\u200b para  \n"
    )
    assert normalize_text(raw) == (
        '"Quoted" \'x\' - the Navier-Stokes eq. — ok A B fine\n\nNext para'
    )


# --- text formats -------------------------------------------------------------------

TEXT = "Café naïve — “quoted”. Second line."


@pytest.mark.parametrize(
    "data",
    [TEXT.encode("utf-8"), TEXT.encode("utf-8-sig"), TEXT.encode("utf-16"),
     b"\xfe\xff" + TEXT.encode("utf-16-be"), TEXT.encode("cp1252")],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "cp1252"],
)  # fmt: skip
def test_txt_encodings(data: bytes) -> None:
    assert parse_document("notes.txt", None, data) == ParsedDocument(
        type="txt", text='Café naïve — "quoted". Second line.'
    )


def test_txt_latin1() -> None:
    data = "Ångström façade: 25 °C ± 0.5 ½".encode("latin-1")
    text = parse_document("a.txt", "text/plain", data).text
    assert text == "Ångström façade: 25 °C ± 0.5 1⁄2"  # NFKC spells ½ out


def test_txt_binary_and_empty_are_invalid() -> None:
    with pytest.raises(InvalidInput, match="binary"):
        parse_document("a.txt", None, b"text\x00with\x00nuls")
    with pytest.raises(InvalidInput, match="binary"):
        parse_document("a.txt", None, bytes(range(1, 32)) * 10)
    with pytest.raises(InvalidInput, match="'blank.txt' contains no extractable text"):
        parse_document("blank.txt", None, b" \n\t\r\n  \xef\xbb\xbf")


def test_markdown_drops_markup_keeps_words() -> None:
    md = (
        "# Domain *alignment*\nIntro with **bold**, `code`, snake_case and a "
        "[link](https://example.com/x \"t\") plus ![a chart](c.png).\n\n"
        "Sub heading\n-----------\n\n- first item\n- second item\n\n"
        "```python\nx = compute(a, b)  # *kept*\n```\n\n"
        "| col | val |\n|-----|:---:|\n| a | 1 |\n\n> Quoted line.\n<!-- a\nnote -->\n"
    )
    text = parse_document("doc.md", None, md.encode()).text
    assert text == (
        "Domain alignment\n\nIntro with bold, code, snake_case and a link plus a chart.\n\n"
        "Sub heading\n\nfirst item\nsecond item\n\nx = compute(a, b) # *kept*\n\n"
        "| col | val |\n| a | 1 |\n\nQuoted line."
    )


def test_html_keeps_visible_blocks_only() -> None:
    html = b"""<!doctype html><html><head><title>Hidden title</title>
    <style>p { color: red }</style></head><body>
    <nav><a href="/">Home</a> | <a href="/about">About</a></nav>
    <script>var secret = "do not keep";</script>
    <h1>Heat   treatment</h1><p>Steel is   heated
    to 900 &deg;C.<br>Then it is quenched.</p>
    <ul><li>Annealing</li><li>Tempering</li></ul>
    <table><tr><th>Grade</th><th>Temp</th></tr><tr><td>A</td><td>850</td></tr></table>
    </body></html>"""
    text = parse_document("page.html", "text/html", html).text
    assert text == (
        "Heat treatment\n\nSteel is heated to 900 °C.\nThen it is quenched.\n\n"
        "Annealing\n\nTempering\n\nGrade | Temp |\n\nA | 850 |"
    )
    for hidden in ("secret", "color", "Home", "Hidden title"):
        assert hidden not in text


def test_html_without_text_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="no extractable text"):
        parse_document("x.html", None, b"<html><script>alert(1)</script></html>")


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_extraction_fixes_hyphens_and_wraps() -> None:
    data = make_pdf(
        [
            ["Domain alignment teaches a model the knowl-", "edge of a field, drawn from the texts",
             "that experts wrote.", "A second paragraph begins on this line and",
             "wraps onto another one before it ends."],
            ["Page two has its own paragraph."],
        ]
    )  # fmt: skip
    parsed = parse_document("paper.pdf", "application/pdf", data)
    assert parsed.type == "pdf"
    assert parsed.text == (
        "Domain alignment teaches a model the knowledge of a field, drawn from the texts "
        "that experts wrote.\n\nA second paragraph begins on this line and wraps onto "
        "another one before it ends.\n\nPage two has its own paragraph."
    )


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\nthis is not really a pdf", b"not a pdf at all", make_pdf([["Truncated."]])[:200]],
    ids=["bad-body", "no-header", "truncated"],
)
def test_corrupt_pdf_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="'broken.pdf' is damaged"):
        parse_document("broken.pdf", None, data)


def test_pdf_without_text_suggests_ocr() -> None:
    expected = "'scan.pdf' contains no extractable text; scanned PDFs need OCR"
    with pytest.raises(InvalidInput, match=expected):
        parse_document("scan.pdf", None, make_pdf([[]]))


@pytest.mark.parametrize(("password", "readable"), [("", True), ("secret", False)])
def test_encrypted_pdf(password: str, readable: bool) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Locked text."]]))))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    if readable:
        assert parse_document("l.pdf", None, buffer.getvalue()).text == "Locked text."
    else:
        with pytest.raises(InvalidInput, match="'l.pdf' is password-protected"):
            parse_document("l.pdf", None, buffer.getvalue())


# --- docx -----------------------------------------------------------------------------------


def test_docx_paragraphs_and_tables_in_order() -> None:
    data = make_docx(
        ["Quenching hardens steel.", "Tempering reduces brittleness."],
        table=[["Process", "Temperature"], ["Annealing", "800 °C"]],
    )
    parsed = parse_document("manual.docx", None, data)
    assert parsed.type == "docx"
    assert parsed.text == (
        "Quenching hardens steel.\n\nTempering reduces brittleness.\n\n"
        "Process | Temperature\nAnnealing | 800 °C\n\nAfter the table."
    )


def test_corrupt_docx_is_invalid() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<not-closed")
    for data in (b"PK\x03\x04 garbage", buffer.getvalue()):
        with pytest.raises(InvalidInput, match="'memo.docx' is damaged"):
            parse_document("memo.docx", None, data)


# --- sentences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("Use e.g. water or i.e. H2O. Then stop.", ["Use e.g. water or i.e. H2O.", "Then stop."]),
        ("It costs 3.5 dollars. Pi is 3.14159.", ["It costs 3.5 dollars.", "Pi is 3.14159."]),
        ("J. R. R. Tolkien wrote it. John F. Kennedy read it.",
         ["J. R. R. Tolkien wrote it.", "John F. Kennedy read it."]),
        ("The U.S. Army agreed. See Fig. 3 and No. 7. Done!",
         ["The U.S. Army agreed.", "See Fig. 3 and No. 7.", "Done!"]),
        ('Is it? "Yes," she said. Wow! Next... And then. I said no. Fine.',
         ["Is it?", '"Yes," she said.', "Wow!", "Next...", "And then.", "I said no.", "Fine."]),
        ('He said "Stop." Then left. (See the table.) Next one.',
         ['He said "Stop."', "Then left.", "(See the table.)", "Next one."]),
        ("1. Introduction\nThis is it. Mr. and Mrs. Jones met Prof. Lee at 5 p.m. today.",
         ["1. Introduction\nThis is it.", "Mr. and Mrs. Jones met Prof. Lee at 5 p.m. today."]),
        ("Heading\n\nBody text. More.\n \n\nEnd", ["Heading", "Body text.", "More.", "End"]),
        ("No terminal punctuation", ["No terminal punctuation"]),
        ("", []),
    ],
)  # fmt: skip
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# --- chunking -------------------------------------------------------------------------------


def corpus(seed: int, *, long_sentences: bool = True) -> str:
    """Paragraphs of marked sentences ("S<p>x<s> ... end<p>x<s>."), some too long for a chunk."""
    rng = random.Random(seed)
    words = "steel heat the of a model data Dr. e.g. 3.5 quench temper grain carbon".split()
    paragraphs = []
    for p in range(12):
        sentences = []
        for s in range(rng.randint(1, 8)):
            n = 260 if long_sentences and rng.random() < 0.05 else rng.choice([3, 8, 15, 30])
            body = " ".join(rng.choice(words) for _ in range(n))
            sentences.append(f"S{p}x{s} {body} end{p}x{s}.")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize(("max_words", "overlap"), [(180, 1), (40, 0), (60, 2), (12, 5)])
def test_chunks_are_bounded_and_lose_no_sentence(max_words: int, overlap: int) -> None:
    text = corpus(seed=max_words)
    chunks = chunk_text("doc1", text, max_words=max_words, overlap_sentences=overlap)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(0 < len(c.text.split()) <= max_words for c in chunks)
    for sentence in split_sentences(text):
        if len(sentence.split()) <= max_words:
            assert any(sentence in c.text for c in chunks), sentence
        else:  # cut into consecutive windows of max_words words
            words = sentence.split()
            for i in range(0, len(words), max_words):
                window = " ".join(words[i : i + max_words])
                assert any(window in c.text for c in chunks), window


@pytest.mark.parametrize(("max_words", "overlap"), [(180, 1), (40, 0), (35, 3)])
def test_chunks_end_on_sentence_boundaries(max_words: int, overlap: int) -> None:
    chunks = chunk_text("d", corpus(seed=7, long_sentences=False), max_words=max_words,
                        overlap_sentences=overlap)  # fmt: skip
    assert len(chunks) > 3
    for chunk in chunks:
        words = chunk.text.split()
        assert words[0].startswith("S") and words[-1].startswith("end"), chunk.text


def test_chunk_ids_are_stable_and_deterministic() -> None:
    text = corpus(seed=3)
    first = chunk_text("docA", text, max_words=50)
    again = chunk_text("docA", text, max_words=50)
    assert first == again
    assert [c.id for c in first] == [f"docA:c{i:04d}" for i in range(len(first))]
    assert all(c.document_id == "docA" for c in first)
    assert chunk_text("docA", text, max_words=80) != first


def test_chunks_keep_paragraphs_and_overlap() -> None:
    text = "One two three. Four five six.\n\nSeven eight nine. Ten eleven twelve."
    assert [c.text for c in chunk_text("d", text, max_words=100)] == [text]
    assert [c.text for c in chunk_text("d", text, max_words=6, overlap_sentences=1)] == [
        "One two three. Four five six.",
        "Four five six.\n\nSeven eight nine.",
        "Seven eight nine. Ten eleven twelve.",
    ]
    assert [c.text for c in chunk_text("d", text, max_words=6, overlap_sentences=0)] == [
        "One two three. Four five six.",
        "Seven eight nine. Ten eleven twelve.",
    ]


def test_overlong_sentence_is_cut_into_word_windows() -> None:
    text = " ".join(f"w{i}" for i in range(25)) + "."
    chunks = chunk_text("d", text, max_words=10, overlap_sentences=1)
    assert [len(c.text.split()) for c in chunks] == [10, 10, 5]
    assert " ".join(c.text for c in chunks) == text


def test_chunk_text_edge_cases() -> None:
    assert chunk_text("d", "") == []
    assert chunk_text("d", " \n\n ") == []
    with pytest.raises(InvalidInput, match="max_words"):
        chunk_text("d", "x", max_words=0)
    with pytest.raises(InvalidInput, match="overlap_sentences"):
        chunk_text("d", "x", overlap_sentences=-1)
