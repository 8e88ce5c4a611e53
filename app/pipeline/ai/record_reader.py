"""What the builders of Pass 2's records share (medication_records.py,
measurement_records.py, history_records.py): the document, its analysis and context,
the lexicon and vocabulary, and how a mention's name and its sentence are found."""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.pipeline.ai.context import Context
from app.pipeline.ai.lexicon import Concept, Lexicon
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import Entity
from app.pipeline.ai.vocabulary import Vocabulary
from app.pipeline.layout import DocumentText


class RecordReader:
    """One document, read for the records of its entities."""

    def __init__(
        self,
        doc: DocumentText,
        lexicon: Lexicon,
        *,
        day_first: bool,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.doc, self.lexicon, self.day_first = doc, lexicon, day_first
        self.vocabulary = vocabulary
        self.analysis = Analysis(doc)
        self.context = Context(self.analysis)

    def concept(self, kinds: Iterable[str], text: str) -> tuple[Concept | None, int]:
        """The first concept of `kinds` named in `text`, and where its name ends in `text`."""
        wanted = tuple(kinds)
        for hit in self.lexicon.scan(text):
            if hit.concept.kind in wanted:
                return hit.concept, hit.end
        named = self._vocabulary_name(wanted, text)
        if named is not None:
            return named
        name = re.match(r"[A-Za-z][A-Za-z' \-]*[A-Za-z]", text)
        return None, name.end() if name else 0

    def _vocabulary_name(self, kinds: tuple[str, ...], text: str) -> tuple[Concept, int] | None:
        """A medicine's or vaccine's ingredient name from the large vocabulary ("Lasix" is
        furosemide); conditions keep the words the document used."""
        if self.vocabulary is None or not set(kinds) & {"medication", "vaccine"}:
            return None
        for hit in self.vocabulary.scan(text):
            if hit.term.kind in kinds:
                return Concept(hit.term.kind, hit.term.name), hit.end
        return None

    def sentence(self, entity: Entity) -> tuple[int, int]:
        span = self.analysis.sentence_at(entity.start)
        return span.start, max(span.end, entity.end)


def written_name(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def record_name(concept: Concept | None, fallback: str) -> str:
    return concept.name if concept else written_name(fallback)
