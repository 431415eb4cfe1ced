from __future__ import annotations

import pytest

from pipeline.errors import CorruptPdf, Encrypted, NotAPdf
from pipeline.pdf import extract_page_text, open_pdf
from tests.conftest import FIXTURES


def test_plain_pdf_opens() -> None:
    reader = open_pdf(FIXTURES / "multipage.pdf")
    assert len(reader.pages) == 5
    assert "Page 2 of multipage" in (extract_page_text(reader, 1) or "")


def test_encrypted_with_empty_password_opens() -> None:
    reader = open_pdf(FIXTURES / "encrypted_empty_password.pdf")
    assert "opens without a password" in (extract_page_text(reader, 0) or "")


def test_encrypted_needs_its_password() -> None:
    with pytest.raises(Encrypted):
        open_pdf(FIXTURES / "encrypted.pdf")
    assert "Page 1" in (extract_page_text(open_pdf(FIXTURES / "encrypted.pdf", "s3cret"), 0) or "")


@pytest.mark.parametrize(("name", "error"), [("truncated.pdf", CorruptPdf), ("not_a_pdf.pdf", NotAPdf)])
def test_bad_files_raise_typed_errors(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_pdf(FIXTURES / name)
