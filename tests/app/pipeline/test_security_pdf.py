"""The PDF scan as a plain function: every stream capped whatever its filters, in bounded
steps; image codecs checked by their headers; attachments, actions beyond the document,
/UserUnit and inline images refused; each with its named reason."""

from __future__ import annotations

import ast
import base64
import random
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

from app.pipeline import jbig2, ocr, pdf_streams
from app.pipeline.errors import SCAN_REASONS, SecurityRejected
from app.pipeline.pdf_streams import Step
from app.pipeline.security import ScanLimits, scan
from app.web.wording import REASONS
from tests.support import hostile
from tests.support.hostile import (
    _one_page,
    _raw_pdf,
    annotated_pdf,
    image_xobject_pdf,
    inline_image_pdf,
    jbig2_page,
    jpeg_claiming,
    link_action_pdf,
    lzw_zeros,
    page_stream_pdf,
    run_length_zeros,
)

MIB = 1024 * 1024
# Small caps, so the bombs here stay small: 4 MiB of zeros against a 1 MiB cap.
LIMITS = ScanLimits(max_stream_bytes=MIB, max_total_stream_bytes=3 * MIB)
SMALL = 4 * MIB
ROOT = Path(__file__).resolve().parents[3]


def refused(path: Path, limits: ScanLimits = LIMITS) -> str:
    with pytest.raises(SecurityRejected) as caught:
        scan(path, limits, claimed_name="letter.pdf")
    assert caught.value.quarantine
    return caught.value.error_type


def written(tmp_path: Path, data: bytes, name: str = "letter.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def qpdf_decoded(raw: bytes, filters: list[str]) -> bytes:
    pdf = pikepdf.new()
    stream = pikepdf.Stream(pdf, raw)
    stream.stream_dict.Filter = pikepdf.Array([pikepdf.Name(name) for name in filters])
    return stream.read_bytes(pikepdf.StreamDecodeLevel.specialized)


def run_length(data: bytes) -> bytes:
    """RunLength-encoded `data`: literal runs of up to 128 bytes."""
    out = bytearray()
    for at in range(0, len(data), 128):
        piece = data[at : at + 128]
        out += bytes([len(piece) - 1]) + piece
    return bytes(out + b"\x80")


def sample(seed: int) -> bytes:
    rng = random.Random(seed)
    runs = bytes(rng.choice(b"ab\0\xff") for _ in range(rng.randrange(1, 30_000)))
    return runs + rng.randbytes(rng.randrange(0, 3_000))


ENCODINGS: list[tuple[list[str], Callable[[bytes], bytes]]] = [
    (["/FlateDecode"], zlib.compress),
    (["/LZWDecode"], hostile.lzw_encode),
    (["/ASCII85Decode"], lambda data: base64.a85encode(data, wrapcol=64) + b"~>"),
    (["/ASCIIHexDecode"], lambda data: data.hex().encode() + b">"),
    (["/RunLengthDecode"], run_length),
    (
        ["/ASCII85Decode", "/FlateDecode"],
        lambda data: base64.a85encode(zlib.compress(data)) + b"~>",
    ),
    (["/FlateDecode", "/FlateDecode"], lambda data: zlib.compress(zlib.compress(data))),
]


@pytest.mark.parametrize(
    ("filters", "encode"), ENCODINGS, ids=["+".join(filters) for filters, _ in ENCODINGS]
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_bounded_decoders_read_what_qpdf_reads(filters, encode, seed: int) -> None:
    """The sizes counted are the real ones: each decoder agrees with qpdf's byte for byte
    (an under-count would let a bomb through)."""
    data = sample(seed)
    raw = encode(data)
    assert qpdf_decoded(raw, filters) == data
    assert pdf_streams.decode(raw, [Step(name) for name in filters], MIB) == data


def test_lzw_without_early_change_is_read_as_written() -> None:
    data = sample(4)
    raw = hostile.lzw_encode(data, early_change=0)
    assert pdf_streams.decode(raw, [Step("/LZWDecode", early_change=0)], MIB) == data


def test_the_decoders_skip_what_a_lenient_reader_skips() -> None:
    """Stray characters, an end marker split across pieces, a lone last character and raw
    deflate cannot make the count stop short of what a reader makes of the data."""
    data = sample(5) * 40
    text = base64.a85encode(data)
    assert len(text) > pdf_streams.CHUNK
    at = pdf_streams.CHUNK - 1
    split = text[:at] + b"~>"  # the "~" ends the first piece, the ">" opens the second
    assert pdf_streams.decode(split, [Step("/A85")], 64 * MIB) == base64.a85decode(text[:at])
    noisy = text[:1000] + b"\x01{|}" + text[1000:] + b"x~>"
    assert pdf_streams.decode(noisy, [Step("/A85")], 64 * MIB) == data
    assert pdf_streams.decode(b"0 0\x01zz1 1>", [Step("/AHx")], MIB) == b"\x00\x11"
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = raw.compress(data) + raw.flush()
    assert pdf_streams.decode(deflated, [Step("/Fl")], 64 * MIB) == data


BOMBS = {
    "flate": lambda: page_stream_pdf(b"/FlateDecode", hostile.flate_zeros(SMALL)),
    "flate_chain": lambda: page_stream_pdf(
        b"[/FlateDecode /FlateDecode]", zlib.compress(hostile.flate_zeros(SMALL))
    ),
    "flate_chain_abbreviated": lambda: page_stream_pdf(
        b"[/Fl /Fl]", zlib.compress(hostile.flate_zeros(SMALL))
    ),
    "ascii85_flate": lambda: page_stream_pdf(
        b"[/ASCII85Decode /FlateDecode]", base64.a85encode(hostile.flate_zeros(SMALL)) + b"~>"
    ),
    "ascii_hex_flate": lambda: page_stream_pdf(
        b"[/ASCIIHexDecode /FlateDecode]", hostile.flate_zeros(SMALL).hex().encode() + b">"
    ),
    "lzw": lambda: page_stream_pdf(b"/LZWDecode", lzw_zeros(SMALL)),
    "run_length": lambda: page_stream_pdf(b"/RunLengthDecode", run_length_zeros(SMALL)),
    "flate_then_run_length": lambda: page_stream_pdf(
        b"[/FlateDecode /RunLengthDecode]", zlib.compress(run_length_zeros(SMALL))
    ),
    "ascii85_with_noise_flate": lambda: page_stream_pdf(
        b"[/ASCII85Decode /FlateDecode]",
        b"\x01".join(
            base64.a85encode(hostile.flate_zeros(SMALL))[at : at + 999]
            for at in range(0, len(base64.a85encode(hostile.flate_zeros(SMALL))), 999)
        )
        + b"~>",
    ),
    "raw_deflate": lambda: page_stream_pdf(b"/FlateDecode", hostile.flate_zeros(SMALL)[2:]),
    "inline_image_data": lambda: inline_image_pdf(
        16, 16, base64.a85encode(hostile.flate_zeros(SMALL)) + b"~>", b"[/A85 /Fl]"
    ),
}


@pytest.mark.parametrize("name", BOMBS)
def test_every_stream_is_capped_whatever_its_filters(tmp_path: Path, name: str) -> None:
    assert refused(written(tmp_path, BOMBS[name]())) == "decompression_bomb"


def test_the_same_streams_under_the_cap_pass(tmp_path: Path) -> None:
    content = b"BT /F1 12 Tf 72 700 Td (Seen in clinic) Tj ET\n" * 50
    for filters, encode in ENCODINGS:
        path = written(
            tmp_path, page_stream_pdf(b"[%s]" % " ".join(filters).encode(), encode(content))
        )
        assert scan(path, LIMITS).page_count == 1, filters
    small_inline = inline_image_pdf(16, 16, b"00" * 32 + b">")
    assert scan(written(tmp_path, small_inline), LIMITS).page_count == 1


def test_the_whole_file_has_a_budget_too(tmp_path: Path) -> None:
    """Streams each under the cap, together over the file's allowance."""
    streams = [
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
        for body in [hostile.flate_zeros(MIB)] * 4
    ]
    path = written(tmp_path, _raw_pdf(_one_page(extra=streams)))
    assert scan(path, ScanLimits(max_stream_bytes=MIB, max_total_stream_bytes=8 * MIB))
    assert refused(path) == "decompression_bomb"


def test_decoding_holds_a_piece_at_a_time_never_the_stream() -> None:
    """A 64 MiB chain bomb against a 48 MiB cap: refused without ever holding more than
    a few pieces of it."""
    raw = zlib.compress(hostile.flate_zeros(64 * MIB))
    tracemalloc.start()
    try:
        with pytest.raises(SecurityRejected):
            pdf_streams.decoded_size(raw, [Step("/FlateDecode"), Step("/FlateDecode")], 48 * MIB, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * pdf_streams.CHUNK


@pytest.mark.parametrize(
    ("filters", "parms", "error_type"),
    [
        (b"/SnakeOilDecode", b"", "malformed_file"),
        (b"[/DCTDecode /FlateDecode]", b"", "unsupported_pdf_feature"),
        (b"[/JBIG2Decode /FlateDecode]", b"", "unsupported_pdf_feature"),
        (
            b"[/FlateDecode /FlateDecode]",
            b"/DecodeParms [<< /Predictor 12 /Columns 4 >> null] ",
            "unsupported_pdf_feature",
        ),
        (b"[/FlateDecode 7]", b"", "unsupported_pdf_feature"),
    ],
)
def test_filter_chains_that_cannot_be_measured_are_refused(
    tmp_path: Path, filters: bytes, parms: bytes, error_type: str
) -> None:
    path = written(tmp_path, page_stream_pdf(filters, zlib.compress(b"q Q"), parms))
    assert refused(path) == error_type


def test_a_predictor_on_the_last_filter_is_fine(tmp_path: Path) -> None:
    rows = zlib.compress(b"".join(b"\x00" + bytes(4) for _ in range(8)))
    path = written(
        tmp_path,
        page_stream_pdf(b"/FlateDecode", rows, b"/DecodeParms << /Predictor 12 /Columns 4 >> "),
    )
    assert scan(path, LIMITS).page_count == 1


def jbig2_region(width: int, height: int, y: int = 0, kind: int = 38) -> bytes:
    info = jbig2_page(100, 100)
    region = struct.pack(">IIIIB", width, height, 0, y, 0) + b"\0" * 8
    return info + struct.pack(">IBBBI", 1, kind, 0, 1, len(region)) + region


@pytest.mark.parametrize(
    ("data", "error_type"),
    [
        (jbig2_page(60_000, 60_000), "decompression_bomb"),
        (jbig2_region(20_000, 20_000), "decompression_bomb"),
        (jbig2_region(100, 100, y=10_000_000), "decompression_bomb"),  # the page would grow
        (jbig2_page(100, 100)[:-3], "malformed_file"),
        (jbig2_page(100, 100)[:-19] + b"\xff\xff\xff\xff", "malformed_file"),
    ],
)
def test_jbig2_headers_are_held_to_the_pixel_cap(data: bytes, error_type: str) -> None:
    with pytest.raises(SecurityRejected) as caught:
        jbig2.check(data, 60_000_000)
    assert caught.value.error_type == error_type


def test_a_small_jbig2_page_passes_and_its_globals_are_checked(tmp_path: Path) -> None:
    jbig2.check(jbig2_region(100, 100), 60_000_000)
    ok = image_xobject_pdf(b"/JBIG2Decode", jbig2_page(16, 16))
    assert scan(written(tmp_path, ok), LIMITS).page_count == 1
    bomb = _raw_pdf(
        _one_page(
            b"/Resources << /XObject << /Im0 5 0 R >> >>",
            b"q /Im0 Do Q",
            [
                b"<< /Subtype /Image /Width 16 /Height 16 /BitsPerComponent 1 "
                b"/Filter /JBIG2Decode /DecodeParms << /JBIG2Globals 6 0 R >> /Length 0 >>\n"
                b"stream\n\nendstream",
                b"<< /Length 30 >>\nstream\n" + jbig2_page(60_000, 60_000) + b"\nendstream",
            ],
        )
    )
    assert refused(written(tmp_path, bomb)) == "decompression_bomb"


def test_a_jpeg_in_a_pdf_is_held_to_its_own_header(tmp_path: Path) -> None:
    """/Width and /Height say 16; the JPEG's frame says 65,000 a side."""
    path = written(tmp_path, image_xobject_pdf(b"/DCTDecode", jpeg_claiming(65_000, 65_000)))
    assert refused(path) == "decompression_bomb"
    path = written(tmp_path, image_xobject_pdf(b"/DCTDecode", jpeg_claiming(16, 16)))
    assert scan(path, LIMITS).page_count == 1


def test_ccitt_rows_and_columns_are_held_to_the_pixel_cap(tmp_path: Path) -> None:
    data = image_xobject_pdf(b"/CCITTFaxDecode", b"\0" * 16).replace(
        b"/Filter", b"/DecodeParms << /Columns 10000 /Rows 10000 >> /Filter"
    )
    assert refused(written(tmp_path, data)) == "decompression_bomb"


def test_an_oversized_inline_image_is_refused(tmp_path: Path) -> None:
    assert refused(written(tmp_path, inline_image_pdf(10_000, 10_000))) == "decompression_bomb"
    form = _raw_pdf(
        _one_page(
            b"/Resources << /XObject << /Fm0 5 0 R >> >>",
            b"/Fm0 Do",
            [
                b"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length 46 >>\nstream\n"
                b"BI /W 9000 /H 9000 /BPC 1 /CS /G /F /AHx ID 0> EI\nendstream"
            ],
        )
    )
    assert refused(written(tmp_path, form)) == "decompression_bomb"
    # No EI: qpdf sees no image here, PDFium reads one of the size its dictionary says.
    unended = _raw_pdf(_one_page(content=b"q BI /Width 9000 /Height 9000 /BPC 1 /CS /G ID \0"))
    assert refused(written(tmp_path, unended)) == "decompression_bomb"


def mutated(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(9, len(out))] = rng.randrange(256)
    return bytes(out)


@pytest.mark.parametrize(
    ("make", "seed"),
    [
        (lambda: inline_image_pdf(16, 16, b"00" * 32 + b">"), 76),
        (lambda: inline_image_pdf(16, 16, zlib.compress(bytes(32)), b"/Fl"), 158),
    ],
    ids=["hex_inline_image", "flate_inline_image"],
)
def test_a_damaged_inline_image_is_malformed_not_a_crash(tmp_path: Path, make, seed) -> None:
    """pikepdf's own reading of these (seeded byte changes of an inline-image PDF) raises
    AttributeError or IndexError: the file is malformed, never an internal error."""
    assert refused(written(tmp_path, mutated(make(), seed))) == "malformed_file"


@pytest.mark.parametrize(
    "make",
    [
        hostile.ef_file_spec_pdf,
        hostile.associated_file_pdf,
        lambda: annotated_pdf(
            b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] "
            b"/FS << /Type /Filespec /F (a.exe) >> >>"
        ),
        lambda: link_action_pdf(b"<< /S /GoToR /F (other.pdf) /D [0 /Fit] >>"),
        lambda: link_action_pdf(b"<< /S /SubmitForm /F << /FS /URL /F (http://x.example/) >> >>"),
        lambda: link_action_pdf(b"<< /S /ImportData /F (data.fdf) >>"),
        lambda: link_action_pdf(b"<< /S /Launch /F (cmd.exe) >>"),
    ],
    ids=["ef", "af", "file_attachment", "goto_r", "submit_form", "import_data", "launch"],
)
def test_attachments_and_actions_beyond_the_document_are_refused(tmp_path: Path, make) -> None:
    assert refused(written(tmp_path, make())) == "executable_content"


def test_a_plain_link_passes(tmp_path: Path) -> None:
    path = written(tmp_path, link_action_pdf(b"<< /S /URI /URI (https://nhs.example/) >>"))
    assert scan(path, LIMITS).page_count == 1


@pytest.mark.parametrize(
    ("unit", "passes"), [(b"1", True), (b"1.0", True), (b"2", False), (b"0.5", False)]
)
def test_user_unit_other_than_one_is_refused(tmp_path: Path, unit: bytes, passes: bool) -> None:
    path = written(tmp_path, hostile.user_unit_pdf(unit))
    if passes:
        assert scan(path, LIMITS).page_count == 1
    else:
        assert refused(path) == "unsupported_pdf_feature"


def test_a_pdf_encrypted_for_a_certificate_is_encrypted_pdf(tmp_path: Path) -> None:
    assert refused(written(tmp_path, hostile.certificate_encrypted_pdf())) == "encrypted_pdf"


def test_fuzzed_pdfs_end_named_or_are_read(tmp_path: Path) -> None:
    """Two dozen seeded damages of a letter: each is refused with a named reason, or passes
    the scan (qpdf repaired it) and PDFium reads every page of what the scan kept; the
    corpus's seeds are the refused ones."""
    refused_seeds = []
    for seed in range(24):
        path = written(tmp_path, hostile.fuzzed_pdf(seed), f"fuzzed-{seed}.pdf")
        try:
            report = scan(path, LIMITS)
        except SecurityRejected as refusal:
            assert refusal.error_type in SCAN_REASONS, seed
            refused_seeds.append(seed)
            continue
        kept = report.repaired_path or path
        pages = list(ocr.iter_pdf_pages(kept, range(1, report.page_count + 1), None))
        assert len(pages) == report.page_count, seed
    assert set(hostile.FUZZ_SEEDS) <= set(refused_seeds)


def test_every_reason_the_scan_gives_is_named_and_worded() -> None:
    """Every `SecurityRejected(message, reason)` written in the pipeline names one of
    SCAN_REASONS, and the web app words each of them for people."""
    given = set()
    for path in (ROOT / "app" / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "SecurityRejected"
                and len(node.args) == 2
            ):
                reason = node.args[1]
                assert isinstance(reason, ast.Constant), (path.name, node.lineno)
                given.add(reason.value)
    assert {"decompression_bomb", "unsupported_pdf_feature", "executable_content"} <= given
    assert given <= set(SCAN_REASONS)
    assert set(SCAN_REASONS) <= set(REASONS)
