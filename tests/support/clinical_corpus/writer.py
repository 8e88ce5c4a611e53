"""Writing a corpus document line by line, with its gold mentions marked in place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.clinical_corpus.documents import FLAGS, RECORD_KINDS, CorpusDocument, GoldEntity


@dataclass(frozen=True)
class M:
    """A mention inside a line or paragraph: its text, entity type and flags."""

    text: str
    type: str
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False


Part = str | M


class Writer:
    """Builds a document line by line, keeping where each mention lands."""

    def __init__(self, doc_id: str, kind: str) -> None:
        self.id, self.kind = doc_id, kind
        self.pages: list[list[str]] = [[]]
        self.entities: list[GoldEntity] = []
        self.records: dict[str, list[dict[str, Any]]] = {k: [] for k in RECORD_KINDS}
        self.document_date: str | None = None

    def gap(self) -> None:
        if self.pages[-1] and self.pages[-1][-1] != "":
            self.pages[-1].append("")

    def page_break(self) -> None:
        while self.pages[-1] and self.pages[-1][-1] == "":
            self.pages[-1].pop()
        self.pages.append([])

    def line(self, *parts: Part) -> None:
        text, mentions = _assemble(parts)
        self._add_line(text, mentions)

    def para(self, *parts: Part, width: int = 90) -> None:
        """A paragraph wrapped at `width` characters; a mention may wrap across lines."""
        text, mentions = _assemble(parts)
        lines, start = [], 0
        words = text.split(" ")
        current: list[str] = []
        for word in words:
            if current and len(" ".join([*current, word])) > width:
                lines.append((start, " ".join(current)))
                start += len(lines[-1][1]) + 1
                current = []
            current.append(word)
        lines.append((start, " ".join(current)))
        for line_start, line_text in lines:
            inside = [
                (offset - line_start, mention)
                for offset, mention in mentions
                if line_start <= offset < line_start + len(line_text) + 1
            ]
            self._add_line(line_text, inside)

    def _add_line(self, text: str, mentions: list[tuple[int, M]]) -> None:
        assert text == text.strip() and "  " not in text and text, repr(text)
        page, number = len(self.pages), len(self.pages[-1])
        self.pages[-1].append(text)
        for column, mention in mentions:
            flags = {name: getattr(mention, name) for name in FLAGS}
            self.entities.append(
                GoldEntity(mention.type, mention.text, page, number, column, **flags)
            )

    def record(self, kind: str, **fields: Any) -> None:
        self.records[kind].append(fields)

    def build(self) -> CorpusDocument:
        while self.pages[-1] and self.pages[-1][-1] == "":
            self.pages[-1].pop()
        records = {k: v for k, v in self.records.items() if v}
        return CorpusDocument(
            self.id,
            self.kind,
            self.document_date,
            tuple(tuple(page) for page in self.pages if page),
            tuple(self.entities),
            records,
        )


def _assemble(parts: Sequence[Part]) -> tuple[str, list[tuple[int, M]]]:
    text, mentions = "", []
    for part in parts:
        if isinstance(part, M):
            mentions.append((len(text), part))
            text += part.text
        else:
            text += part
    return text, mentions
