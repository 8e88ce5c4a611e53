"""The corpus's documents: their gold, their JSON files, and their layout.

`save`/`load` write and read a corpus as JSON files, one per document:

    {"id": "lab-01", "kind": "lab_report", "document_date": "2024-03-12",
     "pages": [["line", "", "line"], ["line"]],
     "entities": [{"type": "lab_result", "text": "Potassium 5.9 mmol/L H",
                   "page": 1, "line": 7, "column": 0, "negated": false,
                   "historical": false, "family": false, "hypothetical": false}],
     "records": {"lab_results": [{"test": "potassium", "value": 5.9,
                                  "unit": "mmol/L", "abnormal_flag": "H"}]}}

`line` counts the page's lines from 0, empty lines included; "records" may be
left out. Two optional keys serve hand-written sets (tests/support/devset.py):
"style" (US, UK, AU, abstract) and "scored_types", the entity types the gold
annotates; a prediction of any other type is then not scored.

`document_text(doc)` lays a document out as the fast lane would (`PageLayout`
lines with normalised word boxes) and returns its `DocumentText`. `handwritten()`
reads the held-out set, six such files in held_out/.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.pipeline.layout import DocumentText, Line, PageLayout
from app.pipeline.layout import document_text as join_pages

FLAGS = ("negated", "historical", "family", "hypothetical")
RECORD_KINDS = (
    "medications",
    "lab_results",
    "vitals",
    "conditions",
    "allergies",
    "immunizations",
    "procedures",
)


@dataclass(frozen=True)
class GoldEntity:
    type: str
    text: str
    page: int
    line: int
    column: int
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    kind: str
    document_date: str | None
    pages: tuple[tuple[str, ...], ...]
    entities: tuple[GoldEntity, ...]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The house style (US, UK, AU, abstract) of a hand-written document, for per-style
    # figures; None for generated ones.
    style: str | None = None
    # The entity types the gold annotates; predictions of other types are not scored.
    # None: every type is annotated (the generated corpus).
    scored_types: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "document_date": self.document_date,
            "pages": [list(page) for page in self.pages],
            "entities": [asdict(entity) for entity in self.entities],
            "records": self.records,
        }
        if self.style is not None:
            data["style"] = self.style
        if self.scored_types is not None:
            data["scored_types"] = list(self.scored_types)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusDocument:
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", "other")),
            document_date=data.get("document_date"),
            pages=tuple(tuple(page) for page in data["pages"]),
            entities=tuple(GoldEntity(**entity) for entity in data.get("entities", [])),
            records={k: list(v) for k, v in (data.get("records") or {}).items()},
            style=data.get("style"),
            scored_types=(
                tuple(data["scored_types"]) if data.get("scored_types") is not None else None
            ),
        )


# ---------------------------------------------------------------- layout

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0
LEFT, TOP, LINE_STEP, CHAR_WIDTH = 0.08, 0.05, 0.016, 0.0085


def layouts(doc: CorpusDocument) -> list[PageLayout]:
    """The document's pages as spatial mapping would lay them out (boxes normalised)."""
    pages = []
    for number, raw in enumerate(doc.pages, start=1):
        lines: list[Line] = []
        for index, text in enumerate(raw):
            if not text:
                continue
            y0 = round(TOP + index * LINE_STEP, 5)
            y1 = round(y0 + LINE_STEP * 0.7, 5)
            words, column = [], 0
            for word in text.split(" "):
                x0 = round(LEFT + column * CHAR_WIDTH, 5)
                x1 = round(x0 + len(word) * CHAR_WIDTH, 5)
                words.append((word, x0, y0, x1, y1, 96.0 + (len(word) % 4)))
                column += len(word) + 1
            box = (words[0][1], y0, words[-1][3], y1)
            lines.append(Line(text, box, tuple(words), len(lines)))
        pages.append(PageLayout(number, PAGE_WIDTH, PAGE_HEIGHT, tuple(lines), ()))
    return pages


def document_text(doc: CorpusDocument) -> DocumentText:
    """The document as the AI lane receives it."""
    return join_pages(layouts(doc))


def gold_spans(doc: CorpusDocument, text: DocumentText) -> list[tuple[int, int, GoldEntity]]:
    """Each gold entity's [start, end) in `text`. Raises AssertionError if one does not
    match the text (a corpus file whose offsets are wrong)."""
    starts: dict[tuple[int, int], int] = {}
    for page_number, raw in enumerate(doc.pages, start=1):
        kept = [index for index, line in enumerate(raw) if line]
        page_lines = [line for line in text.lines if line.page == page_number]
        for raw_index, line in zip(kept, page_lines, strict=True):
            starts[(page_number, raw_index)] = line.start
    spans = []
    for entity in doc.entities:
        start = starts[(entity.page, entity.line)] + entity.column
        end = start + len(entity.text)
        found = " ".join(text.text[start:end].split())
        assert found == " ".join(entity.text.split()), (doc.id, entity, found)
        spans.append((start, end, entity))
    return spans


def save(documents: Iterable[CorpusDocument], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in documents:
        path = folder / f"{doc.id}.json"
        path.write_text(json.dumps(doc.to_json(), indent=1, ensure_ascii=False), "utf-8")
        paths.append(path)
    return paths


def read(path: Path) -> CorpusDocument:
    """One corpus file. Raises OSError, ValueError or KeyError on a file that is
    missing or not a corpus document."""
    return CorpusDocument.from_json(json.loads(path.read_text("utf-8")))


def load(folder: Path) -> list[CorpusDocument]:
    """Every *.json corpus file in `folder`, by name."""
    return [read(path) for path in sorted(folder.glob("*.json"))]


# Six documents written by hand in other house styles (a GP referral, a discharge
# notification, an upper-case biochemistry report, a GP system's medication export,
# a nursing chart, a respiratory letter). Their gold was written before the local
# provider was run on them, and the rules were not tuned to them: they are the
# held-out check on how far the generator's phrasing flatters the rules.
HELD_OUT = Path(__file__).with_name("held_out")
HELD_OUT_IDS = (
    "hand-referral",
    "hand-notification",
    "hand-biochemistry",
    "hand-export",
    "hand-nursing",
    "hand-respiratory",
)


def handwritten() -> list[CorpusDocument]:
    """The six held-out documents written by hand (held_out/*.json), in the order
    they were written, which the reports list them by."""
    return [read(HELD_OUT / f"{doc_id}.json") for doc_id in HELD_OUT_IDS]
