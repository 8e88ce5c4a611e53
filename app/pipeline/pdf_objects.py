"""The security scan's walk through a PDF's objects: what a PDF must not carry, and what
its streams and inline images would cost a reader.

`refuse_hostile_objects(pdf, limits)` visits every object (and the direct objects inside
it) and refuses, with the reason as `error_type`:

- active content and files of its own (`executable_content`): JavaScript, XFA, rich
  media; launch, import, form-submission and remote go-to actions; an attachment however
  it is declared (the EmbeddedFiles name tree, a file specification's /EF, an embedded
  file stream, a FileAttachment annotation, PDF 2.0's associated files /AF);
- a /UserUnit other than 1 (`unsupported_pdf_feature`): the renderers disagree on it;
- a stream whose decoded size passes the cap, whatever its filters, or an image (a
  stream, an inline image in a content stream, or the header inside its codec's data)
  claiming more pixels than an accepted image may have (`decompression_bomb`); a filter
  chain that cannot be measured (`unsupported_pdf_feature`), see `app.pipeline.pdf_streams`;
- objects nested too deeply or too many, or that do not parse (`malformed_file`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pikepdf

from app.pipeline import pdf_streams
from app.pipeline.errors import SecurityRejected
from app.pipeline.limits import ScanLimits

_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/Launch": "a launch action",
    "/EmbeddedFiles": "an embedded file",
    "/EmbeddedFile": "an embedded file",
    "/EF": "an embedded file",
    "/AF": "an associated file",
    "/RichMedia": "rich media",
    "/RichMediaContent": "rich media",
    "/XFA": "an XFA form",
}
_ACTIVE_TYPES = {
    ("/Subtype", "/RichMedia"): "rich media",
    ("/Subtype", "/FileAttachment"): "a file attachment",
    ("/Type", "/EmbeddedFile"): "an embedded file",
}
_ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "a launch action",
    "/ImportData": "an import action",
    "/SubmitForm": "a form submission",
    "/GoToR": "a link into another file",
    "/GoToE": "an embedded-file action",
}


class _Budget:
    """What is left of the whole file's allowance of decoded bytes."""

    def __init__(self, limits: ScanLimits) -> None:
        self.limits = limits
        self.used = 0

    def cap(self) -> int:
        return min(self.limits.max_stream_bytes, self.limits.max_total_stream_bytes - self.used)


def refuse_hostile_objects(pdf: pikepdf.Pdf, limits: ScanLimits) -> None:
    """Refuse what the module's docstring lists, or return."""
    budget = _Budget(limits)
    try:
        _walk(pdf, budget)
        for source in _content_streams(pdf):
            _check_inline_images(source, budget)
    except (pikepdf.PdfError, RecursionError, ValueError, TypeError):
        raise SecurityRejected("the PDF's objects do not parse", "malformed_file") from None


def _walk(pdf: pikepdf.Pdf, budget: _Budget) -> None:
    seen = 0
    for obj in pdf.objects:
        stack = [(obj, 0)]
        while stack:
            item, depth = stack.pop()
            seen += 1
            if seen > budget.limits.max_pdf_objects or depth > 64:
                raise SecurityRejected("the PDF is nested too deeply", "malformed_file")
            if isinstance(item, pikepdf.Stream):
                _check_stream(item, budget)
                item = item.stream_dict
            if isinstance(item, pikepdf.Dictionary):
                _refuse_active_keys(item)
                children = [item[key] for key in item.keys()]  # noqa: SIM118 - pikepdf API
            elif isinstance(item, pikepdf.Array):
                children = list(item)
            else:
                continue
            stack.extend(
                (child, depth + 1)
                for child in children
                if isinstance(child, (pikepdf.Dictionary, pikepdf.Array)) and not child.is_indirect
            )


def _refuse_active_keys(item: pikepdf.Dictionary) -> None:
    keys = set(item.keys())
    for key, what in _ACTIVE_KEYS.items():
        if key in keys:
            raise SecurityRejected(f"the PDF carries {what}", "executable_content")
    for (key, value), what in _ACTIVE_TYPES.items():
        if item.get(key) == pikepdf.Name(value):
            raise SecurityRejected(f"the PDF carries {what}", "executable_content")
    action = item.get("/S")
    if isinstance(action, pikepdf.Name) and str(action) in _ACTIVE_ACTIONS:
        raise SecurityRejected(
            f"the PDF carries {_ACTIVE_ACTIONS[str(action)]}", "executable_content"
        )
    unit = item.get("/UserUnit")
    if unit is not None and float(unit) != 1:
        raise SecurityRejected(
            "the PDF scales its pages by a /UserUnit other than 1", "unsupported_pdf_feature"
        )


def _check_pixels(width: int, height: int, limits: ScanLimits) -> None:
    if width * height > limits.max_image_pixels:
        raise SecurityRejected(
            f"an image in the PDF has {width * height} pixels; at most "
            f"{limits.max_image_pixels} are accepted",
            "decompression_bomb",
        )


def _check_stream(stream: pikepdf.Stream, budget: _Budget) -> None:
    """Refuse an image stream claiming too many pixels, and a stream decoding (through
    all its filters, in bounded steps, keeping nothing) past the cap."""
    info = stream.stream_dict
    height = 0
    if info.get("/Subtype") == pikepdf.Name.Image:
        width, height = int(info.get("/Width", 0)), int(info.get("/Height", 0))
        _check_pixels(width, height, budget.limits)
    steps = _steps(_listed(info.get("/Filter")), _listed(info.get("/DecodeParms")), height, budget)
    budget.used += pdf_streams.decoded_size(
        stream.read_raw_bytes(), steps, budget.cap(), budget.limits.max_image_pixels
    )


def _listed(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, pikepdf.Array) else [value]


def _steps(
    filters: list[object], parms: list[object], height: int, budget: _Budget
) -> list[pdf_streams.Step]:
    """The filters of a stream or inline image, with what their parameters say."""
    steps = []
    for index, name in enumerate(filters):
        if not isinstance(name, (pikepdf.Name, str)):
            raise pdf_streams.unsupported("a filter that is not a name")
        given = parms[index] if index < len(parms) else None
        parm = given if isinstance(given, pikepdf.Dictionary) else pikepdf.Dictionary()
        globals_stream = parm.get("/JBIG2Globals")
        globals_data = b""
        if isinstance(globals_stream, pikepdf.Stream):
            info = globals_stream.stream_dict
            globals_data = pdf_streams.decode(
                globals_stream.read_raw_bytes(),
                _steps(_listed(info.get("/Filter")), _listed(info.get("/DecodeParms")), 0, budget),
                budget.cap(),
            )
        steps.append(
            pdf_streams.Step(
                str(name),
                predictor=int(parm.get("/Predictor", 1)),
                columns=int(parm.get("/Columns", 1728)),
                rows=int(parm.get("/Rows", 0)) or height,
                early_change=int(parm.get("/EarlyChange", 1)),
                globals_data=globals_data,
            )
        )
    return steps


def _content_streams(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Page | pikepdf.Stream]:
    """What a renderer reads as content: pages, form XObjects (appearance streams among
    them), tiling patterns and Type 3 glyphs."""
    yield from pdf.pages
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Stream):
            info = obj.stream_dict
            if info.get("/Subtype") == pikepdf.Name.Form or info.get("/PatternType") == 1:
                yield obj
        elif isinstance(obj, pikepdf.Dictionary) and isinstance(
            obj.get("/CharProcs"), pikepdf.Dictionary
        ):
            procs = obj.CharProcs
            for key in procs.keys():  # noqa: SIM118 - pikepdf API
                glyph = procs[key]
                if isinstance(glyph, pikepdf.Stream):
                    yield glyph


# An inline image's dictionary as PDFium reads it, even where qpdf finds no image (no EI).
_INLINE_IMAGE = re.compile(rb"(?:^|[\s\]>)])BI\s(.{0,4096}?)\sID\s", re.DOTALL)
_INLINE_SIZE = re.compile(rb"/(W|Width|H|Height)\s+(\d{1,12})")


def _check_inline_images(source: pikepdf.Page | pikepdf.Stream, budget: _Budget) -> None:
    """Inline images (BI … ID … EI) against the pixel cap, and their data's decoded size
    against the stream cap. Runs after every stream passed its own cap, so parsing a
    content stream decodes nothing larger than that."""
    for match in _INLINE_IMAGE.finditer(_content_bytes(source)):
        size = {key[:1]: int(value) for key, value in _INLINE_SIZE.findall(match.group(1))}
        _check_pixels(size.get(b"W", 0), size.get(b"H", 0), budget.limits)
    for width, height, filters, parms, data in _inline_images(source):
        _check_pixels(width, height, budget.limits)
        steps = _steps(filters, parms, height, budget)
        budget.used += pdf_streams.decoded_size(
            data, steps, budget.cap(), budget.limits.max_image_pixels
        )


def _inline_images(
    source: pikepdf.Page | pikepdf.Stream,
) -> list[tuple[int, int, list[object], list[object], bytes]]:
    """Each inline image qpdf finds: width, height, filters, decode parameters, data.
    A damaged one can break pikepdf's own reading of it (an IndexError or AttributeError
    from inside), which is a file that does not parse, not a fault of this service."""
    try:
        return [
            (
                int(image.width),
                int(image.height),
                list(image.filters),
                list(image.decode_parms),
                image.read_raw_bytes(),
            )
            for image in (
                instruction.iimage
                for instruction in pikepdf.parse_content_stream(source, "BI ID EI")
                if isinstance(instruction, pikepdf.ContentStreamInlineImage)
            )
        ]
    except (AttributeError, IndexError, KeyError):
        raise SecurityRejected("an inline image in the PDF is damaged", "malformed_file") from None


def _content_bytes(source: pikepdf.Page | pikepdf.Stream) -> bytes:
    """A content stream's bytes (a page's streams joined), each already within the cap."""
    contents = source if isinstance(source, pikepdf.Stream) else source.obj.get("/Contents")
    parts = contents if isinstance(contents, pikepdf.Array) else [contents]
    return b"\n".join(
        part.read_bytes(pikepdf.StreamDecodeLevel.specialized)
        for part in parts
        if isinstance(part, pikepdf.Stream)
    )
