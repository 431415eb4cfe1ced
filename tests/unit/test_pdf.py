from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import CorruptPdf, Encrypted, NotAPdf
from pipeline.pdf import open_pdf, read_page, remove_password
from tests.conftest import FIXTURES


def test_plain_pdf_opens() -> None:
    reader = open_pdf(FIXTURES / "multipage.pdf")
    assert len(reader.pages) == 5
    assert "Page 2 of multipage" in read_page(reader, 2, 5).text


def test_encrypted_with_empty_password_opens() -> None:
    reader = open_pdf(FIXTURES / "encrypted_empty_password.pdf")
    assert "opens without a password" in read_page(reader, 1, 5).text


def test_encrypted_needs_its_password() -> None:
    with pytest.raises(Encrypted):
        open_pdf(FIXTURES / "encrypted.pdf")
    assert "Page 1" in read_page(open_pdf(FIXTURES / "encrypted.pdf", "s3cret"), 1, 5).text


@pytest.mark.parametrize(("name", "error"), [("truncated.pdf", CorruptPdf), ("not_a_pdf.pdf", NotAPdf)])
def test_bad_files_raise_typed_errors(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_pdf(FIXTURES / name)


def test_remove_password_rewrites_only_with_the_right_password(tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    original = (FIXTURES / "encrypted.pdf").read_bytes()
    locked.write_bytes(original)
    assert remove_password(locked, "wrong") is False
    assert locked.read_bytes() == original
    assert remove_password(locked, "s3cret") is True
    assert "Page 1" in read_page(open_pdf(locked), 1, 5).text
    assert remove_password(FIXTURES / "plain.pdf", "anything") is False, "not encrypted: left alone"
