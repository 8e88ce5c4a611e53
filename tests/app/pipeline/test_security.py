"""The security scan as a plain function, on generated files."""

from __future__ import annotations

import pytest

from app.pipeline.errors import SecurityRejected
from app.pipeline.security import ScanLimits, scan
from tests.support.documents import Corpus

LIMITS = ScanLimits()


@pytest.mark.parametrize(
    ("name", "error_type"),
    [
        ("eicar.txt", "malware_detected"),
        ("encrypted.pdf", "encrypted_pdf"),
        ("javascript.pdf", "executable_content"),
        ("embedded_file.pdf", "executable_content"),
        ("zero_pages.pdf", "malformed_file"),
        ("bomb.png", "decompression_bomb"),
        ("truncated.png", "malformed_file"),
        ("polyglot.pdf", "polyglot_file"),
        ("text_renamed.pdf", "type_mismatch"),
    ],
)
def test_hostile_files_are_refused_with_a_reason(
    corpus: Corpus, name: str, error_type: str
) -> None:
    with pytest.raises(SecurityRejected) as refused:
        scan(corpus.path(name), LIMITS, claimed_name=name)
    assert refused.value.error_type == error_type
    assert refused.value.quarantine


def test_truncated_pdf_is_refused_or_repaired(corpus: Corpus) -> None:
    # Cut after 900 bytes the page content is gone: nothing a repair can save.
    with pytest.raises(SecurityRejected) as refused:
        scan(corpus.path("truncated.pdf"), LIMITS)
    assert refused.value.error_type == "malformed_file"


def test_a_broken_cross_reference_table_is_repaired_and_recorded(corpus: Corpus) -> None:
    report = scan(corpus.path("broken_xref.pdf"), LIMITS)
    assert report.repaired and report.repaired_path is not None
    assert report.page_count == 2
    assert report.repaired_path.read_bytes().startswith(b"%PDF")


def test_page_cap(corpus: Corpus) -> None:
    with pytest.raises(SecurityRejected) as refused:
        scan(corpus.path("born_digital.pdf"), ScanLimits(max_pages=1))
    assert refused.value.error_type == "too_many_pages"


@pytest.mark.parametrize(
    ("name", "mime", "pages"),
    [
        ("born_digital.pdf", "application/pdf", 2),
        ("scan_300dpi.pdf", "application/pdf", 2),
        ("mixed.pdf", "application/pdf", 2),
        ("scan_300dpi.png", "image/png", 1),
        ("scan_rot270.jpg", "image/jpeg", 1),
        ("multipage.tiff", "image/tiff", 2),
    ],
)
def test_good_files_pass_with_their_type_and_pages(
    corpus: Corpus, name: str, mime: str, pages: int
) -> None:
    report = scan(corpus.path(name), LIMITS, claimed_name=name)
    assert (report.mime_type, report.page_count, report.repaired) == (mime, pages, False)


def test_heic_and_webp_are_accepted(corpus: Corpus, tmp_path) -> None:
    from PIL import Image
    from pillow_heif import register_heif_opener

    register_heif_opener()
    image = corpus.scan_images(1)[0].resize((620, 877))
    for fmt, suffix, mime in (("HEIF", "heic", "image/heic"), ("WEBP", "webp", "image/webp")):
        path = tmp_path / f"photo.{suffix}"
        image.convert("RGB").save(path, format=fmt)
        report = scan(path, LIMITS, claimed_name=path.name)
        assert (report.mime_type, report.page_count) == (mime, 1)
        with Image.open(path) as decoded:
            assert decoded.size == (620, 877)


def test_clamd_verdicts(corpus: Corpus, clamd_server) -> None:
    from app.pipeline.clamav import ClamdScanner, ScannerUnavailable

    scanner = ClamdScanner(clamd_server.address)
    clamd_server.verdict = "Win.Test.Fake FOUND"
    with pytest.raises(SecurityRejected) as refused:
        scan(corpus.path("born_digital.pdf"), LIMITS, scanner)
    assert refused.value.error_type == "malware_detected"
    assert clamd_server.received == corpus.read("born_digital.pdf")

    clamd_server.verdict = "OK"
    assert scan(corpus.path("born_digital.pdf"), LIMITS, scanner).page_count == 2

    with pytest.raises(ScannerUnavailable):
        scan(corpus.path("born_digital.pdf"), LIMITS, ClamdScanner("127.0.0.1:1"))
