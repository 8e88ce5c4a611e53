"""The development set: hand-written clinical documents with gold marks, in tests/corpus/dev/;
and the check set, in tests/corpus/check/, written the same way but blind: its documents
were written and marked before the extractor was run on them, and nothing was tuned to them.

Each `*.txt` file there is one document: a header between two `---` lines, then
the text as a reader would take it off the page, with every gold mention marked
in place:

    ---
    id: us-discharge-01                  # the file's name without .txt
    kind: discharge_summary              # one of KINDS
    style: US                            # one of STYLES
    document_date: 2024-03-12            # or left empty
    types: medication, condition, allergy   # the entity types annotated (and scored)
    ---
    Discharged on [[medication:Metoprolol succinate ER 25 mg PO daily]].
    Past history: [[condition|hist:hypertension]]; [[allergy|neg:NKDA]].

A mark is `[[type:text]]` or `[[type|flags:text]]`, flags comma-separated from
`neg`, `hist`, `fam`, `hyp`; it sits on one line and its type is one of the
header's `types`. A line holding only `\\f` (or a form feed, or `=== page ===`)
starts a new page. Runs of spaces collapse to one and lines are stripped, so a
table may be aligned in the file; an empty line is vertical space. A trailing
block opened by a line `--- records ---` holds gold records as JSON, in the shape
of tests/support/clinical_corpus/documents.py.

`dev_documents()` loads them all as `CorpusDocument`s whose `style` and
`scored_types` are set, so `evaluate()` ignores predictions of a type the file
does not annotate; `dev_documents(CHECK_FOLDER)` (or `check_documents()`) loads the
check set. `parse(text, name)` reads one file and raises `DevSetError`
naming the file and line of anything malformed.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from app.pipeline.ai.types import ENTITY_TYPES
from tests.support.clinical_corpus import RECORD_KINDS, CorpusDocument, GoldEntity

FOLDER = Path(__file__).resolve().parent.parent / "corpus" / "dev"
CHECK_FOLDER = FOLDER.parent / "check"
KINDS = (
    "lab_report",
    "discharge_summary",
    "medication_list",
    "clinic_letter",
    "vitals_record",
    "other",
)
STYLES = ("US", "UK", "AU", "abstract")
FLAG_NAMES = {"neg": "negated", "hist": "historical", "fam": "family", "hyp": "hypothetical"}
PAGE_BREAKS = ("\\f", "\f", "=== page ===")
RECORDS_OPENER = "--- records ---"
# The synthetic layout puts a line every 1.6 % of the page from 5 %: more lines
# would run off the page's normalised box.
MAX_LINES_PER_PAGE = 58

_MARK = re.compile(r"\[\[([a-z_]+)(?:\|([a-z, ]*))?:([^\[\]]*)\]\]")
_HEADER_KEYS = {"id", "kind", "style", "document_date", "types"}


class DevSetError(ValueError):
    """A development-set file that cannot be read; the message names file and line."""


def dev_documents(folder: Path = FOLDER) -> list[CorpusDocument]:
    """Every `*.txt` document in `folder`, by name. Raises DevSetError on a malformed one."""
    return [parse(path.read_text("utf-8"), path.name) for path in sorted(folder.glob("*.txt"))]


def check_documents() -> list[CorpusDocument]:
    """The blind check set (tests/corpus/check/), in the development set's format."""
    return dev_documents(CHECK_FOLDER)


def parse(source: str, name: str = "<text>") -> CorpusDocument:
    """One development-set file as a CorpusDocument (see the module docstring)."""
    lines = source.splitlines()
    header, body_start = _header(lines, name)
    body, records = _split_records(lines[body_start:], body_start, name)
    scored = header["types"]
    pages: list[list[str]] = [[]]
    entities: list[GoldEntity] = []
    for number, raw in body:
        if raw.strip(" \t") in PAGE_BREAKS:
            pages.append([])
            continue
        text, marks = _line(raw, scored, f"{name}:{number}")
        if not text and not pages[-1]:
            continue  # no blank lines at the top of a page
        for column, kind, flags, mention in marks:
            entities.append(GoldEntity(kind, mention, len(pages), len(pages[-1]), column, **flags))
        pages[-1].append(text)
    for page in pages:
        while page and not page[-1]:
            page.pop()
    if any(not page for page in pages):
        raise DevSetError(f"{name}: an empty page (two page breaks in a row, or one at an end)")
    for number, page in enumerate(pages, start=1):
        if len(page) > MAX_LINES_PER_PAGE:
            raise DevSetError(
                f"{name}: page {number} has {len(page)} lines (at most {MAX_LINES_PER_PAGE});"
                " add a page break"
            )
    return CorpusDocument(
        id=header["id"],
        kind=header["kind"],
        document_date=header["document_date"],
        pages=tuple(tuple(page) for page in pages),
        entities=tuple(entities),
        records=records,
        style=header["style"],
        scored_types=scored,
    )


def _header(lines: list[str], name: str) -> tuple[dict[str, Any], int]:
    if not lines or lines[0].strip() != "---":
        raise DevSetError(f"{name}:1: the file must open with a '---' header line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise DevSetError(f"{name}: the header has no closing '---' line") from None
    fields: dict[str, str] = {}
    for number in range(1, end):
        content = lines[number].split("#", 1)[0].strip()
        if not content:
            continue
        key, colon, value = content.partition(":")
        key = key.strip()
        if not colon or key not in _HEADER_KEYS:
            raise DevSetError(
                f"{name}:{number + 1}: expected one of {sorted(_HEADER_KEYS)} as 'key: value'"
            )
        fields[key] = value.strip()
    return _checked(fields, name), end + 1


def _checked(fields: dict[str, str], name: str) -> dict[str, Any]:
    for key in ("id", "kind", "style", "types"):
        if not fields.get(key):
            raise DevSetError(f"{name}: the header lacks '{key}'")
    stem = name.removesuffix(".txt")
    if name != "<text>" and fields["id"] != stem:
        raise DevSetError(f"{name}: id {fields['id']!r} differs from the file name")
    if fields["kind"] not in KINDS:
        raise DevSetError(f"{name}: kind {fields['kind']!r} is not one of {KINDS}")
    if fields["style"] not in STYLES:
        raise DevSetError(f"{name}: style {fields['style']!r} is not one of {STYLES}")
    types = tuple(t.strip() for t in fields["types"].split(",") if t.strip())
    unknown = [t for t in types if t not in ENTITY_TYPES]
    if unknown:
        raise DevSetError(f"{name}: unknown types {unknown} (known: {ENTITY_TYPES})")
    document_date = fields.get("document_date") or None
    if document_date:
        try:
            date.fromisoformat(document_date)
        except ValueError:
            raise DevSetError(
                f"{name}: document_date {document_date!r} is not YYYY-MM-DD"
            ) from None
    return {**fields, "types": types, "document_date": document_date}


def _split_records(
    lines: list[str], offset: int, name: str
) -> tuple[list[tuple[int, str]], dict[str, list[dict[str, Any]]]]:
    numbered = [(offset + i + 1, line) for i, line in enumerate(lines)]
    opener = next(
        (i for i, (_, line) in enumerate(numbered) if line.strip() == RECORDS_OPENER), None
    )
    if opener is None:
        return numbered, {}
    block = "\n".join(line for _, line in numbered[opener + 1 :])
    try:
        records = json.loads(block)
    except json.JSONDecodeError as error:
        raise DevSetError(f"{name}: the records block is not JSON ({error})") from None
    if not isinstance(records, dict) or not set(records) <= set(RECORD_KINDS):
        raise DevSetError(f"{name}: records must be an object with keys from {RECORD_KINDS}")
    return numbered[:opener], {k: list(v) for k, v in records.items()}


def _line(
    raw: str, scored: tuple[str, ...], where: str
) -> tuple[str, list[tuple[int, str, dict[str, bool], str]]]:
    """The line's text with its marks taken out, and each mark's column, type, flags, text."""
    raw = " ".join(raw.split())
    text, marks, position = "", [], 0
    for match in _MARK.finditer(raw):
        text += _plain(raw[position : match.start()], where)
        kind, flag_text, mention = match.group(1), match.group(2), match.group(3).strip()
        if kind not in scored:
            raise DevSetError(f"{where}: type {kind!r} is not in the header's types {scored}")
        if not mention:
            raise DevSetError(f"{where}: an empty mark {match.group(0)!r}")
        flags = dict.fromkeys(FLAG_NAMES.values(), False)
        for flag in (f.strip() for f in (flag_text or "").split(",") if f.strip()):
            if flag not in FLAG_NAMES:
                raise DevSetError(
                    f"{where}: unknown flag {flag!r} in {match.group(0)!r}"
                    f" (known: {', '.join(FLAG_NAMES)})"
                )
            flags[FLAG_NAMES[flag]] = True
        marks.append((len(text), kind, flags, mention))
        text += mention
        position = match.end()
    text += _plain(raw[position:], where)
    return text, marks


def _plain(segment: str, where: str) -> str:
    """Text between marks; a bracket pair left over is a malformed mark."""
    if "[[" in segment or "]]" in segment:
        raise DevSetError(
            f"{where}: malformed mark near {segment.strip()[:60]!r}"
            " (expected [[type:text]] or [[type|neg,hist:text]] on one line)"
        )
    return segment
