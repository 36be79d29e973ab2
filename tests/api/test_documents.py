"""Document routes over real HTTP: formats, dedupe, limits, ownership."""

from __future__ import annotations

import io

import docx
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.conftest import UPLOAD_LIMIT_MB


def _pdf(text: str) -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})})
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def upload(client, name, data, content_type="application/octet-stream"):
    return client.post("/documents", files=[("files", (name, data, content_type))])


def test_each_supported_format_becomes_a_ready_document(api):
    samples = {
        "a.txt": b"The lighthouse at Orrin Point was lit in 1871.",
        "b.md": b"# Orrin\n\nThe keeper of **Orrin Point** was Hesper Vale.",
        "c.html": b"<html><script>var x=1;</script><body><p>Orrin Point has 212 steps.</p></body></html>",
        "d.pdf": _pdf("The Orrin Point lamp burns whale oil."),
        "e.docx": _docx("The Orrin Point fog horn sounds every 30 seconds."),
    }
    for name, data in samples.items():
        response = upload(api, name, data)
        assert response.status_code == 200, (name, response.text)
        doc_id = response.json()["document_ids"][0]
        assert doc_id.startswith("doc_")
        info = api.get(f"/documents/{doc_id}").json()
        assert info["status"] == "ready" and info["chunk_count"] >= 1
        assert info["type"] == name.rsplit(".", 1)[1] and info["filename"] == name
        assert info["uploader"] == "alice" and info["upload_date"].endswith("Z")
    listed = {d["filename"] for d in api.get("/documents").json()["documents"]}
    assert set(samples) <= listed


def test_same_content_twice_returns_the_same_id(api):
    first = upload(api, "dup.txt", b"Duplicate text about the Orrin Point bell.").json()["document_ids"]
    second = upload(api, "dup-again.txt", b"Duplicate text about the Orrin Point bell.").json()["document_ids"]
    assert first == second


def test_multiple_files_and_categories(api):
    response = api.post("/documents", data={"categories": "manuals,2026"}, files=[
        ("files", ("m1.txt", b"Manual one says the valve opens at 3 bar.", "text/plain")),
        ("files", ("m2.txt", b"Manual two says the valve closes at 1 bar.", "text/plain")),
    ])
    ids = response.json()["document_ids"]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert api.get(f"/documents/{ids[0]}").json()["categories"] == ["manuals", "2026"]


def test_oversized_file_is_413_with_the_limit(api):
    response = upload(api, "big.txt", b"a " * (UPLOAD_LIMIT_MB * 2**20))
    assert response.status_code == 413
    assert "DOMALIGN_MAX_UPLOAD_MB" in response.json()["detail"]


def test_unsupported_type_is_415(api):
    response = upload(api, "image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png")
    assert response.status_code == 415
    assert "image.png" in response.json()["detail"]


def test_file_without_text_is_422_and_nothing_is_stored(api):
    before = len(api.get("/documents").json()["documents"])
    response = api.post("/documents", files=[
        ("files", ("ok.txt", b"A fine sentence about Orrin Point harbour.", "text/plain")),
        ("files", ("blank.txt", b"   \n\n  ", "text/plain")),
    ])
    assert response.status_code == 422
    assert "blank.txt" in response.json()["detail"]
    assert len(api.get("/documents").json()["documents"]) == before


def test_corrupt_pdf_is_422(api):
    response = upload(api, "broken.pdf", b"%PDF-1.4 this is not really a pdf")
    assert response.status_code == 422


def test_other_users_document_is_a_404_like_a_missing_one(api, other_api):
    doc_id = upload(api, "private.txt", b"Alice's private note about the Orrin Point budget.").json()["document_ids"][0]
    foreign = other_api.get(f"/documents/{doc_id}")
    missing = other_api.get("/documents/doc_00000000000000000000000000")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(doc_id, "X") == missing.json()["detail"].replace(
        "doc_00000000000000000000000000", "X")
    assert other_api.delete(f"/documents/{doc_id}").status_code == 404
    assert doc_id not in [d["id"] for d in other_api.get("/documents").json()["documents"]]


def test_delete_document(api):
    doc_id = upload(api, "gone.txt", b"This note about Orrin Point will be deleted.").json()["document_ids"][0]
    assert api.delete(f"/documents/{doc_id}").status_code == 204
    assert api.get(f"/documents/{doc_id}").status_code == 404
